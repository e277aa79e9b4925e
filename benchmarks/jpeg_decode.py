"""What JPEG draft decoding changes: cosine to the exact decode and retrieval, on a run's test photos.

The embedded data's photos are ~160 px, below the draft threshold (shorter side > resize), so
the test photos are also re-encoded at `upscale` times their size (JPEG quality 90) to stand in
for camera-sized uploads; both sets are embedded with draft decode on and off, by this version's
path and by the previous one (benchmarks.image_steps.previous_pixels: Pillow, resize then crop).

    python -m benchmarks.jpeg_decode BUNDLE DATA_DIR --out benchmarks/results/jpeg_decode.json
"""
from __future__ import annotations

import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
import numpy as np
from PIL import Image


def upscaled_copies(paths: list[Path], folder: Path, factor: int) -> list[Path]:
    """Each photo resized `factor` times (bicubic) and saved as JPEG quality 90 under `folder`."""
    out = []
    for i, path in enumerate(paths):
        with Image.open(path) as img:
            big = img.convert("RGB").resize((img.width * factor, img.height * factor), Image.BICUBIC)
        out.append(folder / f"{i:05d}.jpg")
        big.save(out[-1], "JPEG", quality=90)
    return out


def embed_both_ways(r: Any, files: list[Path], batch_size: int = 64) -> dict[str, Any]:
    """Image embeddings with draft decode and with the exact decode, by this and the previous path, with wall times."""
    from benchmarks.image_steps import previous_pixels

    out: dict[str, Any] = {}
    default = r.image_spec
    for name, spec in (("draft", replace(default, jpeg_draft=True)), ("exact", replace(default, jpeg_draft=False))):
        r.image_spec = spec
        start = time.perf_counter()
        out[name] = r.embed_images(files, batch_size=batch_size)
        out[f"{name}_seconds"] = time.perf_counter() - start
        start = time.perf_counter()
        out[f"previous_{name}"] = np.concatenate([r.embed_pixels(np.stack([previous_pixels(f, spec) for f in files[i:i + batch_size]]))
                                                  for i in range(0, len(files), batch_size)])
        out[f"previous_{name}_seconds"] = time.perf_counter() - start
    r.image_spec = default
    return out


def _cos(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    cos = (a * b).sum(1)  # both L2-normalised
    return {"min": float(cos.min()), "mean": float(cos.mean())}


@click.command()
@click.argument("bundle", type=click.Path(exists=True, file_okay=False))
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "out_path", type=click.Path(dir_okay=False), required=True)
@click.option("--upscale", type=click.IntRange(2), default=4, show_default=True)
@click.option("--max-test", type=click.IntRange(2), default=1000, show_default=True)
def main(bundle: str, data_dir: str, out_path: str, upscale: int, max_test: int) -> None:
    """Cosine (draft vs exact) and R@1/R@10/MedR both ways with either decode, original and upscaled photos."""
    from itertools import islice

    from export.gate import retrieval_intervals
    from seje_sdk import Retriever
    from trainer.data.recipe1m import iter_recipes
    from trainer.evaluate import rank_metrics
    from trainer.references import reference_metrics

    r = Retriever.load(bundle, backend="onnxruntime")
    test = list(islice(iter_recipes(Path(data_dir), ("test",), require_images=True), max_test))
    layer1 = [{"id": t.id, "title": t.title, "ingredients": [{"text": x} for x in t.ingredients],
               "instructions": [{"text": x} for x in t.instructions]} for t in test]
    recipes = r.embed_recipes(layer1)
    paths = [Path(t.image_paths[0]) for t in test]
    labels = np.array([t.class_id if t.class_id is not None else -1 for t in test])
    report: dict[str, Any] = {"bundle": bundle, "n_pairs": len(test), "resize": r.image_spec.resize,
                              "references": reference_metrics([labels])}
    with tempfile.TemporaryDirectory() as tmp:
        for label, files in (("original", paths), (f"upscaled_x{upscale}", upscaled_copies(paths, Path(tmp), upscale))):
            got = embed_both_ways(r, files)
            with Image.open(files[0]) as first:
                size = first.size
            ways = ("draft", "exact", "previous_draft", "previous_exact")
            report[label] = {"first_size": size,
                             "cos": {"draft_vs_exact": _cos(got["draft"], got["exact"]),
                                     "exact_vs_previous_exact": _cos(got["exact"], got["previous_exact"]),
                                     "draft_vs_previous_draft": _cos(got["draft"], got["previous_draft"]),
                                     "draft_vs_previous_exact": _cos(got["draft"], got["previous_exact"])},
                             "seconds": {k: round(got[f"{k}_seconds"], 2) for k in ways},
                             "retrieval": {k: rank_metrics(got[k], recipes) for k in ways},
                             # paired bootstrap of the R@1 difference (points, 95%), as the export gate computes it
                             "r1_interval": {f"{a}_vs_{b}": {d: i.as_dict() for d, i in retrieval_intervals(
                                 {"image": got[b], "recipe": recipes}, {"image": got[a], "recipe": recipes}).items()}
                                 for a, b in (("draft", "exact"), ("exact", "previous_exact"), ("draft", "previous_draft"))}}
    tmp_out = Path(f"{out_path}.tmp")
    tmp_out.write_text(json.dumps(report, indent=2))
    tmp_out.replace(out_path)
    click.echo(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
