"""The synthetic Recipe1M-layout generator: deterministic, readable by the reader, learnable but not trivial."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from trainer.data.classes import read_classes
from trainer.data.cli import synth
from trainer.data.recipe1m import SkipReport, iter_recipes
from trainer.data.synth import generate
from trainer.data.synth_catalog import DISHES, INGREDIENTS


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, dict]:
    """400 recipes: enough for a stable baseline, ~3 s to make."""
    out = tmp_path_factory.mktemp("synth") / "data"
    return out, generate(out, n_recipes=400, seed=0, image_size=64)


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        stats = generate(tmp_path / name, 40, seed=seed, image_size=48)
        assert min(stats["partitions"].values()) > 0  # even 40 recipes over 40 dishes fill all three splits
    a, b, c = (_digest(tmp_path / name) for name in "abc")
    assert a == b and len(a) > 40 + 4  # every file, images included, byte for byte
    assert {"layer1.json", "layer2.json", "det_ingrs.json", "classes1M.pkl"} <= set(a)
    for name in ("layer1.json", "layer2.json", "det_ingrs.json", "classes1M.pkl"):
        assert a[name] != c[name]
    assert not set(k for k in a if k.endswith(".jpg")) & set(k for k in c if k.endswith(".jpg"))  # new ids too


def test_output_passes_the_reader(dataset):
    out, stats = dataset
    report = SkipReport()
    recipes = list(iter_recipes(out, require_images=True, verify_images=True, report=report))
    assert report.total == 0 and not report.filtered
    assert len(recipes) == stats["recipes"] == 400
    assert sum(len(r.image_ids) for r in recipes) == stats["images"]
    assert {p: sum(r.partition == p for r in recipes) for p in ("train", "val", "test")} == stats["partitions"]
    split = np.array(list(stats["partitions"].values())) / 400
    assert np.allclose(split, [0.70, 0.15, 0.15], atol=0.04)
    assert all(1 <= len(r.image_ids) <= 3 and 3 <= len(r.instructions) <= 15 for r in recipes)
    assert all(len(r.det_ingredients) == len(r.ingredients) == len(r.det_valid) for r in recipes)
    # det_ingrs names are catalogue ingredient names (multiword kept), except the invalid noise lines
    assert all(n in INGREDIENTS for r in recipes for n, v in zip(r.det_ingredients, r.det_valid) if v)
    assert any("kosher salt" in r.det_ingredients or "brown sugar" in r.det_ingredients for r in recipes)
    assert 0.01 < np.mean([not v for r in recipes for v in r.det_valid]) < 0.1
    sizes = {Image.open(r.image_paths[0]).size for r in recipes[:50]}
    assert len(sizes) > 5 and all(55 <= s <= 75 for wh in sizes for s in wh)  # ~64 px, varied


def test_classes_follow_titles_like_im2recipe(dataset):
    out, stats = dataset
    class_of, names = read_classes(out / "classes1M.pkl")
    assert names == {0: "background", **{i + 1: d.name for i, d in enumerate(DISHES)}}
    assert 30 <= stats["categories"] == len(DISHES) <= 50
    recipes = list(iter_recipes(out))
    assert {r.class_id for r in recipes} == set(names)  # every category, and some background
    background = [r for r in recipes if r.class_id == 0]
    assert len(background) == stats["background_recipes"] and 0.03 < len(background) / len(recipes) < 0.2
    for r in recipes:
        if r.class_id:
            assert names[r.class_id] in r.title.lower()
        else:
            assert not any(re.search(rf"\b{n}\b", r.title.lower()) for n in names.values())


def test_text_uses_cooking_vocabulary(dataset):
    recipes = list(iter_recipes(dataset[0]))
    lines = " ".join(t for r in recipes for t in r.ingredients)
    steps = " ".join(t for r in recipes for t in r.instructions).lower()
    for unit in ("cup", "tablespoon", "teaspoon", "pound", "ounces", "pinch"):
        assert unit in lines
    for word in ("bake", "whisk", "simmer", "stir", "preheat", "oven", "skillet", "baking sheet", "serve"):
        assert word in steps, word
    assert len({r.title for r in recipes}) > 300  # varied titles
    assert len({tuple(r.instructions) for r in recipes}) == len(recipes)


def test_categories_separable_by_nearest_centroid_but_not_trivially(dataset):
    """8x8x3 pixels, one centroid per class from train photos, scored on test photos."""
    feats: dict[str, list] = {"train": [], "test": []}
    labels: dict[str, list] = {"train": [], "test": []}
    for r in iter_recipes(dataset[0], partitions=("train", "test"), require_images=True):
        if r.class_id:  # background recipes have no category to learn
            for p in r.image_paths:
                img = Image.open(p).convert("RGB").resize((8, 8), Image.BOX)
                feats[r.partition].append(np.asarray(img, dtype=np.float32).ravel())
                labels[r.partition].append(r.class_id)
    xtr, ytr, xte, yte = (np.array(v) for v in (feats["train"], labels["train"], feats["test"], labels["test"]))
    classes = np.unique(ytr)
    centroids = np.stack([xtr[ytr == c].mean(0) for c in classes])
    pred = classes[((xte[:, None] - centroids[None]) ** 2).sum(-1).argmin(1)]
    accuracy, chance = float(np.mean(pred == yte)), 1 / len(classes)
    assert len(yte) > 80
    assert accuracy > 3 * chance, f"nearest centroid {accuracy:.3f} vs chance {chance:.3f}: categories not visible"
    assert accuracy < 0.6, f"nearest centroid {accuracy:.3f}: images are trivially separable"


def test_cli_prints_statistics_table(tmp_path):
    result = CliRunner().invoke(synth, [str(tmp_path / "d"), "--recipes", "12", "--seed", "1", "--image-size", "48"])
    assert result.exit_code == 0, result.output
    assert "| recipes" in result.output and "|   train" in result.output and "| images" in result.output
    assert (tmp_path / "d" / "layer1.json").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dir left behind
    bad = CliRunner().invoke(synth, [str(tmp_path / "e"), "--recipes", "0"])
    assert bad.exit_code != 0 and "n_recipes must be >= 1" in bad.output and not (tmp_path / "e").exists()
    again = CliRunner().invoke(synth, [str(tmp_path / "d"), "--recipes", "5", "--image-size", "48"])
    assert again.exit_code == 0 and "|   train" in again.output  # a previous dataset is replaced
    (tmp_path / "d" / "notes.txt").write_text("mine")
    refused = CliRunner().invoke(synth, [str(tmp_path / "d"), "--recipes", "5"])
    assert refused.exit_code != 0 and "refusing to replace" in refused.output and "notes.txt" in refused.output
    assert (tmp_path / "d" / "notes.txt").read_text() == "mine"


def test_tiny_chain_dataset_is_valid(tiny_data):
    """The session fixture every later stage builds on reads cleanly, all splits present."""
    parts = {r.partition for r in iter_recipes(tiny_data, require_images=True)}
    assert parts == {"train", "val", "test"}


def test_photo_shows_the_recipes_own_ingredients():
    """Pancakes with blueberries have blue in the middle of the photo; the same pancakes without, almost none."""
    from trainer.data.synth_images import render_image

    pancakes = next(d for d in DISHES if d.name == "pancakes")

    def blue_fraction(used: list[str], seed: int) -> float:
        rgb = np.asarray(render_image(pancakes, used, (64, 64), np.random.default_rng(seed)), dtype=int)[16:-16, 16:-16]
        return float(np.mean((rgb[..., 2] > rgb[..., 0] + 30) & (rgb[..., 2] > rgb[..., 1] + 20)))

    plain = list(pancakes.core)
    with_berries = [blue_fraction(plain + ["blueberries"], s) for s in range(20)]
    without = [blue_fraction(plain, s) for s in range(20)]
    assert np.mean(with_berries) > 0.01 > 5 * np.mean(without)
    assert sum(w > wo for w, wo in zip(with_berries, without)) >= 18
