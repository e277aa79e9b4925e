"""The embedded mini dataset: `generate()` writes a synthetic Recipe1M-layout folder from a seed.

Layout written (exactly the real release's): layer1.json, layer2.json, det_ingrs.json,
images/<partition>/<c0>/<c1>/<c2>/<c3>/<image_id>, classes1M.pkl. Same seed -> same bytes:
every recipe draws from its own Generator seeded by (seed, index), JSON is written with
sorted keys, JPEG settings are fixed and nothing records the time.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seje_sdk.errors import InputError
from seje_sdk.io import atomic_dir
from seje_sdk.progress import progress_bar
from trainer.data.classes import BACKGROUND, class_of_title, write_classes
from trainer.data.synth_catalog import DISHES
from trainer.data.synth_images import encode_jpeg, render_image
from trainer.data.synth_text import recipe_text, recipe_url

PARTITIONS = ("train", "val", "test")
LAYOUT = {"layer1.json", "layer2.json", "det_ingrs.json", "classes1M.pkl", "images"}
SPLIT = (0.60, 0.10, 0.30)  # a large test share: >= 1,000 test pairs (real 1k bags) from 3,500 recipes
IMAGES_PER_RECIPE = (0.45, 0.35, 0.20)  # probabilities of 1, 2, 3 photos
SCHEMA_SEED_TAG = "seje-synth/2"  # part of every id hash: bump it if the generator's output changes meaning


@dataclass(frozen=True)
class _Plan:
    index: int
    dish: int
    partition: str


def image_relpath(partition: str, image_id: str) -> str:
    """Recipe1M's image location: images/<partition>/<c0>/<c1>/<c2>/<c3>/<image_id>."""
    return "/".join(("images", partition, *image_id[:4], image_id))


def _hex_id(*parts: object) -> str:
    return hashlib.sha1(":".join(map(str, (SCHEMA_SEED_TAG, *parts))).encode()).hexdigest()[:10]


def _plan(n_recipes: int, seed: int) -> list[_Plan]:
    """Dish per recipe (every dish appears, mildly imbalanced) and a SPLIT (60/10/30) stratified by dish."""
    rng = np.random.default_rng([seed, 0x5EE])
    n_dishes = len(DISHES)
    dishes = np.arange(n_recipes) % n_dishes
    weights = 1.0 / (1.0 + 0.05 * np.arange(n_dishes))  # a long tail like Recipe1M's classes
    redraw = rng.random(n_recipes) < 0.3
    dishes[redraw] = rng.choice(n_dishes, size=int(redraw.sum()), p=weights / weights.sum())
    dishes = dishes[rng.permutation(n_recipes)]
    # Stratified: a dish's k-th of m recipes sits at (k + offset) / m in [0, 1), cut at SPLIT's
    # boundaries. The random per-dish offset keeps the expected split even for dishes with 1-3 recipes.
    offset = rng.random(n_dishes)
    seen = np.zeros(n_dishes, dtype=int)
    counts = np.bincount(dishes, minlength=n_dishes)
    parts = []
    for dish in dishes:
        frac = (seen[dish] + offset[dish]) / counts[dish]
        seen[dish] += 1
        parts.append("train" if frac < SPLIT[0] else "val" if frac < SPLIT[0] + SPLIT[1] else "test")
    for part in ("test", "val"):  # tiny datasets: never leave a split empty
        if part not in parts and parts.count("train") > 1 and n_recipes >= 3:
            parts[len(parts) - 1 - parts[::-1].index("train")] = part
    return [_Plan(i, int(dish), part) for i, (dish, part) in enumerate(zip(dishes, parts))]


def _sizes(image_size: int, rng: np.random.Generator) -> tuple[int, int]:
    """Roughly image_size px; half of the photos are not square, as in Recipe1M."""
    w = int(round(image_size * rng.uniform(0.92, 1.15)))
    h = w if rng.random() < 0.5 else int(round(image_size * rng.uniform(0.92, 1.15)))
    return w, h


def generate(
    out_dir: str | os.PathLike, n_recipes: int = 3500, seed: int = 0, image_size: int = 160, images: bool = True
) -> dict:
    """Write a synthetic Recipe1M-layout dataset to `out_dir` (atomically); return its statistics.

    images=False writes the text files only (layer2 still lists the image ids): for measuring
    the reader or text features at a scale where rendering photos would take too long.
    """
    if n_recipes < 1:
        raise ValueError(f"n_recipes must be >= 1, got {n_recipes}")
    if image_size < 32:
        raise ValueError(f"image_size must be >= 32 px, got {image_size}")
    check_replaceable(Path(out_dir))
    start = time.perf_counter()
    names = {0: BACKGROUND, **{i + 1: d.name for i, d in enumerate(DISHES)}}
    layer1, layer2, det_ingrs, class_of = [], [], [], {}
    used_ids: set[str] = set()
    n_images = n_bytes = 0
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        for plan in progress_bar(_plan(n_recipes, seed), desc=f"synth {out_dir.name}", unit="recipe", mininterval=1.0):
            rng = np.random.default_rng([seed, plan.index])
            dish = DISHES[plan.dish]
            text = recipe_text(dish, rng)
            rid = _unique(_hex_id(seed, plan.index), used_ids)
            layer1.append(
                {
                    "id": rid,
                    "title": text.title,
                    "url": recipe_url(text.title, rng),
                    "partition": plan.partition,
                    "ingredients": [{"text": t} for t in text.ingredients],
                    "instructions": [{"text": t} for t in text.instructions],
                }
            )
            det_ingrs.append({"id": rid, "ingredients": [{"text": t} for t in text.det_names], "valid": text.det_valid})
            class_of[rid] = class_of_title(text.title, names)
            photos = []
            for j in range(1 + int(rng.choice(3, p=IMAGES_PER_RECIPE))):
                image_id = _unique(_hex_id(rid, j), used_ids) + ".jpg"
                if images:
                    data = encode_jpeg(render_image(dish, text.used, text.variant, _sizes(image_size, rng), rng))
                    path = tmp / image_relpath(plan.partition, image_id)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(data)
                    n_bytes += len(data)
                photos.append({"id": image_id, "url": f"http://img.sndimg.com/food/image/upload/{image_id}"})
            layer2.append({"id": rid, "images": photos})
            n_images += len(photos)
        for name, obj in (("layer1.json", layer1), ("layer2.json", layer2), ("det_ingrs.json", det_ingrs)):
            data = json.dumps(obj, sort_keys=True, ensure_ascii=False).encode("utf-8")
            (tmp / name).write_bytes(data)
            n_bytes += len(data)
        write_classes(tmp / "classes1M.pkl", class_of, names)
        n_bytes += (tmp / "classes1M.pkl").stat().st_size
    return _stats(layer1, layer2, class_of, names, n_images, n_bytes, time.perf_counter() - start)


def check_replaceable(out_dir: Path, layout: set[str] = LAYOUT, option: str = "OUT_DIR") -> None:
    """Replacing a previous dataset is fine; replacing a folder that holds anything beyond `layout` is refused."""
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: exists and is not a folder; choose another {option}")
    if out_dir.is_dir():
        foreign = sorted(p.name for p in out_dir.iterdir() if p.name not in layout)
        if foreign:
            raise InputError(
                f"{out_dir}: refusing to replace a folder that holds more than a Recipe1M-layout dataset "
                f"(found {foreign[:5]}); choose an empty or new {option}"
            )


def _unique(candidate: str, used: set[str]) -> str:
    """Ids are hashes; on the (astronomically rare) collision, rehash deterministically."""
    while candidate in used:
        candidate = hashlib.sha1(candidate.encode()).hexdigest()[:10]
    used.add(candidate)
    return candidate


def _stats(
    layer1: list, layer2: list, class_of: dict, names: dict, n_images: int, n_bytes: int, seconds: float
) -> dict:
    per_split = {p: sum(r["partition"] == p for r in layer1) for p in PARTITIONS}
    return {
        "recipes": len(layer1),
        "partitions": per_split,
        "categories": len(names) - 1,
        "background_recipes": sum(c == 0 for c in class_of.values()),
        "images": n_images,
        "mean_ingredients": float(np.mean([len(r["ingredients"]) for r in layer1])),
        "mean_instructions": float(np.mean([len(r["instructions"]) for r in layer1])),
        "bytes": n_bytes,
        "seconds": round(seconds, 2),
    }
