"""End-to-end cases through the SDK, next to the raw ONNX Runtime session they wrap.

- image files -> decode (SDK worker pool) -> embed -> exact top-10 search, vs encoder-only;
- SDK overhead: `Retriever.embed_images` on decoded arrays vs `session.run` on ready pixels;
- recipes: `Retriever.embed_recipes` on recipe dicts (tokenise, tag, rank terms) vs the raw session.
Each call covers several batches so the SDK's decode/inference overlap can show.
"""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence
from unittest import mock

import numpy as np

from benchmarks.cases import RawOrtSession
from benchmarks.harness import BenchCase
from benchmarks.inputs import RecipeBatch, image_batch, sdk_recipe_batch
from seje_sdk.backends.onnxruntime import SPIN_ENV

RAW, SDK_ARRAYS, SDK_FILES, SDK_RECIPES = "raw-session", "sdk-embed-arrays", "sdk-search-files", "sdk-embed-recipes"
RAW_BLOCKING = "raw-session-blocking"  # the bare session with the SDK's thread setting (no spin-wait)
# The same search with other decode settings (seje_sdk.image.ImageSpec) and ORT threads spin-waiting or not:
FILE_VARIANTS = {  # name: (ImageSpec changes, spin-wait, what)
    "sdk-search-files-exact": (dict(jpeg_draft=False), False, "every JPEG pixel decoded (jpeg_draft=False)"),
    "sdk-search-files-pillow": (dict(jpeg_decoder="pillow"), False, "Pillow decodes (as without simplejpeg)"),
    "sdk-search-files-spin": (dict(), True, "ORT threads spin-wait (SEJE_ORT_SPIN=1)"),
    "sdk-search-files-before": (dict(jpeg_decoder="pillow"), True, "Pillow decodes, ORT threads spin-wait (the settings before)"),
    "sdk-search-files-exact-before": (dict(jpeg_draft=False, jpeg_decoder="pillow"), True,
                                      "every JPEG pixel decoded by Pillow, ORT threads spin-wait"),
}


def e2e_cases(bundle: Any, precision: str, image_files: Sequence[Path], recipes: Sequence[dict], batch_size: int = 64,
              batches_per_call: int = 4, threads: int = 0, k: int = 10) -> list[BenchCase]:
    """Image and recipe end-to-end cases for one ORT CPU precision (encoders 'image-e2e' and 'recipe-e2e')."""
    from seje_sdk import Retriever
    from seje_sdk.jpeg import simplejpeg_module

    r = Retriever.load(bundle, backend="onnxruntime", precision=precision, threads=threads, verify=False)
    with mock.patch.dict(os.environ, {SPIN_ENV: "1"}):  # the same bundle with ORT's spin-waiting threads, for the *-spin / *-before rows
        spinning = Retriever.load(bundle, backend="onnxruntime", precision=precision, threads=threads, verify=False)
    decoder = "simplejpeg" if simplejpeg_module() is not None else "Pillow (simplejpeg not installed)"
    n = batch_size * batches_per_call
    files = [image_files[i % len(image_files)] for i in range(n)]
    spec = r.bundle.image_spec
    # Decoded arrays already at the resize size: the SDK does only its crop, layout and batching work.
    arrays = list(np.random.default_rng(1).integers(0, 256, (n, spec.resize, spec.resize, 3), dtype=np.uint8))
    pixels = image_batch(spec.size, batch_size)
    for retriever in (r, spinning):  # the index searched by image queries
        retriever.add_recipes(list(recipes), ids=list(range(len(recipes))))
    k = min(k, len(recipes))
    recipe_list = [recipes[i % len(recipes)] for i in range(n)]
    prepared: RecipeBatch = sdk_recipe_batch(r, recipe_list[:batch_size])

    # The reference: bare InferenceSessions on the same model files, same thread setting, ORT's spin-waiting
    # threads (its default) or blocking ones (the SDK's); the faster of the two is the encoder-only throughput.
    def raw_runner(encoder: str, spin: bool):
        session = RawOrtSession(r.bundle.model_path("onnxruntime", precision, encoder), threads, spin)

        def run(feeds: Any) -> None:
            for _ in range(batches_per_call):
                session.run({"pixels": feeds} if encoder == "image" else feeds.feeds())
        return run

    note = f"{batches_per_call} batches of {batch_size} per call"

    def search_with(settings: dict[str, Any], spin: bool):
        retriever = spinning if spin else r
        spec = replace(retriever.image_spec, **settings)

        def search(f: Sequence[Path]) -> Any:
            default, retriever.image_spec = retriever.image_spec, spec  # cases run one at a time: safe
            try:
                return retriever.search(images=f, k=k, batch_size=batch_size)
            finally:
                retriever.image_spec = default
        return search

    common = dict(precision=precision, batch_size=batch_size, items=n)
    raws = ((RAW, True, "threads spin-wait (ORT default)"), (RAW_BLOCKING, False, "threads block (the SDK's setting)"))
    return [
        *[BenchCase(name, encoder="image-e2e", run=raw_runner("image", spin), batch=pixels,
                    note=f"bare InferenceSession.run on ready pixels, {how}; {note}", **common) for name, spin, how in raws],
        BenchCase(SDK_ARRAYS, encoder="image-e2e", run=lambda a: r.embed_images(a, batch_size=batch_size), batch=arrays,
                  note=f"embed_images on decoded uint8 arrays; {note}", **common),
        BenchCase(SDK_FILES, encoder="image-e2e", run=lambda f: r.search(images=f, k=k, batch_size=batch_size), batch=files,
                  note=f"search(images=JPEG files), JPEG draft decode, decoder {decoder}, top-{k} over {len(recipes)} recipes; {note}",
                  **common),
        *[BenchCase(name, encoder="image-e2e", run=search_with(settings, spin), batch=files, note=f"as {SDK_FILES}, {what}; {note}",
                    **common) for name, (settings, spin, what) in FILE_VARIANTS.items()],
        *[BenchCase(name, encoder="recipe-e2e", run=raw_runner("recipe", spin), batch=prepared,
                    note=f"bare InferenceSession.run on SDK-prepared feeds, {how}; {note}", **common) for name, spin, how in raws],
        BenchCase(SDK_RECIPES, encoder="recipe-e2e", run=lambda rs: r.embed_recipes(rs, batch_size=batch_size), batch=recipe_list,
                  note=f"embed_recipes on recipe dicts (tokenise, tagger, key terms); {note}", **common),
    ]


def e2e_summary(rows: list[dict]) -> list[dict]:
    """Per (encoder, precision): SDK throughput as a fraction of the faster bare session's, and SDK overhead in %."""
    out = []
    for encoder in ("image-e2e", "recipe-e2e"):
        for precision in sorted({r["precision"] for r in rows if r["encoder"] == encoder}):
            group = {r["backend"]: r for r in rows if r["encoder"] == encoder and r["precision"] == precision}
            raws = [group[n] for n in (RAW, RAW_BLOCKING) if n in group and group[n]["status"] == "ok"]
            if not raws:
                continue
            raw = max(raws, key=lambda row: row["throughput"])  # the encoder's best bare throughput is the reference
            for name, row in group.items():
                if name in (RAW, RAW_BLOCKING) or row["status"] != "ok":
                    continue
                out.append({
                    "encoder": encoder, "precision": precision, "path": name, "batch_size": row["batch_size"],
                    "throughput": row["throughput"], "raw_throughput": raw["throughput"], "raw_path": raw["backend"],
                    "fraction_of_raw": round(row["throughput"] / raw["throughput"], 3),
                    "overhead_pct": round(100.0 * (raw["throughput"] / row["throughput"] - 1.0), 1),
                    **{f: row.get(f) for f in ("load_before", "load_after", "cpus", "overloaded")},
                })
    return out
