"""Where the time of search-from-files goes: each preprocessing step and the image graph, per batch of 64.

Each step runs alone over the same files, single-threaded, timed in CPU ms (time.process_time,
less disturbed by other jobs than wall time); the image graph is timed by wall and CPU time with
the given thread count, its threads spin-waiting (ORT's default) or not. "previous" is the preprocessing before simplejpeg and the one-step resize
(`previous_pixels`: Pillow decode, resize the whole image, crop, float per image).

    python -m benchmarks.image_steps BUNDLE --out benchmarks/results/image_steps.json [--data DATA_DIR]
"""
from __future__ import annotations

import io
import json
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import click
import numpy as np
from PIL import Image

from benchmarks.harness import best_of
from seje_sdk.image import ImageSpec, load_image, load_pixels, resize_crop, stack_pixels


def previous_pixels(src: Any, spec: ImageSpec) -> np.ndarray:
    """The preprocessing before this version: Pillow decode (draft per spec), resize all, crop, float32 (3, s, s)."""
    img = _two_step(load_image(src, min_side=spec.resize if spec.jpeg_draft else None, decoder="pillow"), spec)
    return np.asarray(img, dtype=np.float32).transpose(2, 0, 1).copy()


def _two_step(img: Image.Image, spec: ImageSpec) -> Image.Image:
    """Resize the whole image, then crop: resize_crop's path without jpeg_draft (training, export)."""
    return resize_crop(img, replace(spec, jpeg_draft=False))


def _cpu_ms(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Best CPU time of `repeats` calls, in ms, and the last result."""
    best, out = best_of(fn, repeats, time.process_time)
    return round(best * 1000, 2), out


def step_costs(files: list[Path], spec: ImageSpec, repeats: int = 5) -> dict[str, float]:
    """CPU ms per len(files) images of each preprocessing step, draft per spec.jpeg_draft."""
    min_side = spec.resize if spec.jpeg_draft else None
    out: dict[str, float] = {}
    out["read bytes"], datas = _cpu_ms(lambda: [f.read_bytes() for f in files], repeats)
    out["open (header)"], _ = _cpu_ms(lambda: [Image.open(io.BytesIO(d)) for d in datas], repeats)
    out["decode file, Pillow"], decoded = _cpu_ms(lambda: [load_image(f, min_side=min_side, decoder="pillow") for f in files], repeats)
    out["decode file, simplejpeg"], _ = _cpu_ms(lambda: [load_image(f, min_side=min_side) for f in files], repeats)
    out["resize then crop (previous)"], crops = _cpu_ms(lambda: [_two_step(img, spec) for img in decoded], repeats)
    one_step = replace(spec, jpeg_draft=True)  # resize_crop resizes in one step on the query path only
    out["resize + crop in one step"], _ = _cpu_ms(lambda: [resize_crop(img, one_step) for img in decoded], repeats)
    out["float per image + stack (previous)"], _ = _cpu_ms(
        lambda: np.stack([np.asarray(c, dtype=np.float32).transpose(2, 0, 1).copy() for c in crops]), repeats)
    out["uint8 per image + one batch cast"], _ = _cpu_ms(lambda: stack_pixels([np.asarray(c) for c in crops]), repeats)
    out["whole, previous"], _ = _cpu_ms(lambda: np.stack([previous_pixels(f, spec) for f in files]), repeats)
    out["whole, this version"], _ = _cpu_ms(lambda: stack_pixels([load_pixels(f, spec) for f in files]), repeats)
    return out


def graph_costs(bundle: Any, batch: np.ndarray, threads: int, repeats: int = 5) -> dict[str, dict[str, float]]:
    """Image graph per ONNX Runtime CPU precision, with ORT's threads spin-waiting (its default) or blocking.

    Wall and CPU ms of one run on `batch` (best of `repeats`), and the median wall ms at batch 1.
    """
    from benchmarks.cases import RawOrtSession

    out = {}
    for precision in [p for p in ("fp32", "int8") if p in bundle.precisions("onnxruntime")]:
        for spin in (True, False):
            session = RawOrtSession(bundle.model_path("onnxruntime", precision, "image"), threads, spin)
            session.run({"pixels": batch})
            walls, cpus = [], []
            for _ in range(repeats):
                wall, cpu = time.perf_counter(), time.process_time()
                session.run({"pixels": batch})
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
            one = batch[:1]
            singles = []
            for _ in range(50):
                wall = time.perf_counter()
                session.run({"pixels": one})
                singles.append(time.perf_counter() - wall)
            out[f"{precision}, spin {'on' if spin else 'off'}"] = {
                "wall_ms": round(min(walls) * 1000, 2), "cpu_ms": round(min(cpus) * 1000, 2),
                "batch1_median_ms": round(float(np.median(singles)) * 1000, 3)}
    return out


@click.command()
@click.argument("bundle", type=click.Path(exists=True, file_okay=False))
@click.option("--data", "data_dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Use this data folder's test photos instead of generated 512x384 JPEGs.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), required=True)
@click.option("--batch", type=click.IntRange(1), default=64, show_default=True)
@click.option("--threads", type=click.IntRange(1), default=2, show_default=True)
def main(bundle: str, data_dir: str | None, out_path: str, batch: int, threads: int) -> None:
    """CPU ms per batch of each preprocessing step (draft and exact decode) and of the image graph."""
    from benchmarks.environment import capture_environment
    from benchmarks.inputs import image_batch, read_recipes, write_jpegs
    from seje_sdk.bundle import Bundle

    b = Bundle.load(bundle)
    with tempfile.TemporaryDirectory() as tmp:
        files = read_recipes(data_dir, "test", limit=batch)[1] if data_dir else write_jpegs(tmp, 32)
        files = [Path(files[i % len(files)]) for i in range(batch)]
        report = {"bundle": bundle, "files": f"{batch} test photos of {data_dir}" if data_dir else f"{batch} of 32 generated 512x384 JPEGs",
                  "first_size": list(Image.open(files[0]).size), "batch": batch, "threads": threads,
                  "load_before": os.getloadavg()[0],
                  "steps_cpu_ms": {mode: step_costs(files, replace(b.image_spec, jpeg_draft=mode == "draft"))
                                   for mode in ("draft", "exact")},
                  "graph_ms": graph_costs(b, image_batch(b.image_spec.size, batch), threads),
                  "load_after": os.getloadavg()[0], "environment": capture_environment()}
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    tmp_path = Path(f"{out_path}.tmp")
    tmp_path.write_text(json.dumps(report, indent=2))
    tmp_path.replace(out_path)
    click.echo(json.dumps({k: report[k] for k in ("files", "first_size", "steps_cpu_ms", "graph_ms", "load_before", "load_after")}, indent=2))


if __name__ == "__main__":
    main()
