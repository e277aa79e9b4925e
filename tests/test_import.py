"""seje-train import: every source format, the report, the refusals and the no-leak split rule."""
from __future__ import annotations

import csv
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from seje_sdk.errors import DataError, InputError
from trainer.cli import main
from trainer.data.importer import ImportConfig, import_collection
from trainer.data.recipe1m import iter_recipes
from trainer.data.validate import check_dataset

DISHES = ["banana bread", "chicken curry", "greek salad", "tomato soup", "apple pie"]


def photo(path: Path, seed: int) -> Path:
    """A small JPEG with its own bytes."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(path, quality=90)
    return path


def rows(folder: Path, n: int = 40, start: int = 0) -> list[dict]:
    """n recipe rows (numbers start..) with one photo each under folder/photos (relative paths)."""
    out = []
    for i in range(start, start + n):
        dish = DISHES[i % len(DISHES)]
        photo(folder / "photos" / f"p{i}.jpg", i)
        out.append({"id": f"r{i}", "title": f"Easy {dish.title()} number {i}",
                    "ingredients": [f"{1 + i % 3} cups chopped {dish.split()[0]}", "1 tsp salt, to taste"],
                    "instructions": f"Prepare the {dish}.\nCook it for {i} minutes.", "images": [f"photos/p{i}.jpg"]})
    return out


def write_jsonl(path: Path, items: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in items), encoding="utf-8")
    return path


def test_jsonl_import_reads_back_with_the_pipeline_reader(tmp_path):
    src = write_jsonl(tmp_path / "recipes.jsonl", rows(tmp_path))
    report = import_collection(src, tmp_path / "data")
    recipes = list(iter_recipes(tmp_path / "data", require_images=True))
    assert len(recipes) == 40 and sum(report["pairs"].values()) == 40
    r = next(r for r in recipes if r.id == "r6")
    assert r.instructions == ["Prepare the chicken curry.", "Cook it for 6 minutes."]
    assert r.det_ingredients == ["chicken", "salt"] and all(r.det_valid)
    assert r.image_paths[0].read_bytes() == (tmp_path / "photos/p6.jpg").read_bytes()
    assert report["categories"]["source"].startswith("derived") and report["categories"]["coverage"] == 1.0
    assert check_dataset(tmp_path / "data").pairs["train"] == report["pairs"]["train"]
    det = json.loads((tmp_path / "data/det_ingrs.json").read_text())
    assert all(d["derived"] for d in det)


def test_csv_with_text_cells_and_given_categories_and_partitions(tmp_path):
    items = rows(tmp_path, 30)
    with open(tmp_path / "recipes.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, ["id", "title", "ingredients", "instructions", "images", "category", "partition"])
        w.writeheader()
        for i, r in enumerate(items):
            w.writerow({**r, "ingredients": "\n".join(r["ingredients"]), "images": r["images"][0],
                        "category": DISHES[i % 5], "partition": ["train", "train", "train", "val", "test"][i % 5]})
    report = import_collection(tmp_path / "recipes.csv", tmp_path / "data", cfg=ImportConfig(link="copy"))
    assert report["recipes"] == {"train": 18, "val": 6, "test": 6}
    with open(tmp_path / "data/classes1M.pkl", "rb") as f:
        class_of, names = pickle.load(f), pickle.load(f)
    assert report["categories"]["source"] == "given" and set(names.values()) == {"background", *DISHES}
    assert names[class_of["r3"]] == DISHES[3]
    got = {r.id: r for r in iter_recipes(tmp_path / "data")}
    assert got["r3"].ingredients == ["1 cups chopped tomato", "1 tsp salt, to taste"]
    assert not got["r3"].image_paths[0].is_symlink()


def test_parquet_and_images_as_absolute_paths(tmp_path):
    pa, pq = pytest.importorskip("pyarrow"), pytest.importorskip("pyarrow.parquet")
    items = [{**r, "images": [str(tmp_path / p) for p in r["images"]]} for r in rows(tmp_path, 20)]
    pq.write_table(pa.Table.from_pylist(items), tmp_path / "recipes.parquet", row_group_size=7)
    report = import_collection(tmp_path / "recipes.parquet", tmp_path / "data", cfg=ImportConfig(split=(0.6, 0.2, 0.2)))
    assert report["recipes"] == {"train": 12, "val": 4, "test": 4} and report["format"] == "parquet"
    first = next(iter_recipes(tmp_path / "data"))
    assert first.image_paths[0].is_symlink()


def test_photo_folder_matches_photos_by_id_and_reports_orphans(tmp_path):
    folder = tmp_path / "shop"
    items = rows(folder, 20)
    for i, r in enumerate(items):  # no images column: photos are named after the recipe ids
        (folder / r["images"][0]).rename(folder / f"{r['id']}_1.jpg")
        del r["images"]
    photo(folder / "r0_2.jpg", 100)
    photo(folder / "stray.jpg", 101)
    (folder / "photos").rmdir()
    write_jsonl(folder / "recipes.jsonl", items)
    report = import_collection(folder, tmp_path / "data")
    r0 = next(r for r in iter_recipes(tmp_path / "data") if r.id == "r0")
    assert len(r0.image_paths) == 2 and sum(report["pairs"].values()) == 20
    assert report["problems"]["photo without recipe"]["count"] == 1
    assert "stray.jpg" in report["problems"]["photo without recipe"]["examples"][0]


def test_hugging_face_folder_with_image_bytes_and_splits(tmp_path):
    pa = pytest.importorskip("pyarrow")
    folder = tmp_path / "hf"
    for split, n, start in (("train", 14, 0), ("validation", 3, 14), ("test", 3, 17)):
        items = rows(tmp_path / split, n, start)
        for r in items:
            r["image"] = {"bytes": (tmp_path / split / r.pop("images")[0]).read_bytes(), "path": None}
            r["id"] = f"{split}-{r['id']}"
        (folder / split).mkdir(parents=True)
        table = pa.Table.from_pylist(items)
        with pa.OSFile(str(folder / split / "data-00000-of-00001.arrow"), "wb") as sink:
            with pa.ipc.new_stream(sink, table.schema) as writer:
                writer.write_table(table)
        (folder / split / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data-00000-of-00001.arrow"}]}))
    (folder / "dataset_dict.json").write_text(json.dumps({"splits": ["train", "validation", "test"]}))
    report = import_collection(folder, tmp_path / "data")
    assert report["recipes"] == {"train": 14, "val": 3, "test": 3} and report["format"] == "hf"
    recipes = list(iter_recipes(tmp_path / "data", require_images=True))
    assert len(recipes) == 20 and Image.open(recipes[0].image_paths[0]).size == (24, 24)


def test_real_datasets_save_to_disk(tmp_path):
    datasets = pytest.importorskip("datasets")
    items = rows(tmp_path, 20)
    for r in items:
        r["image"] = str(tmp_path / r.pop("images")[0])
    ds = datasets.Dataset.from_list(items).cast_column("image", datasets.Image())
    ds.save_to_disk(str(tmp_path / "hf"))
    report = import_collection(tmp_path / "hf", tmp_path / "data")
    assert sum(report["pairs"].values()) == 20


def test_every_broken_row_is_reported_and_kept_rows_are_imported(tmp_path):
    items = rows(tmp_path, 30)
    (tmp_path / "photos/bad.jpg").write_bytes(b"not a jpeg")
    items[0]["images"] = ["photos/missing.jpg"]
    items[1]["images"] = ["photos/bad.jpg"]
    items[2] = {"id": "r2", "title": "", "ingredients": [], "instructions": []}
    items[3]["id"] = "r4"  # duplicate id of the next row
    lines = [json.dumps(r) for r in items] + ["{not json"]
    (tmp_path / "recipes.jsonl").write_text("\n".join(lines) + "\n")
    report = import_collection(tmp_path / "recipes.jsonl", tmp_path / "data")
    problems = report["problems"]
    assert problems["missing photo"]["count"] == 1 and problems["unreadable photo"]["count"] == 1
    assert problems["empty text"]["count"] == 1 and problems["duplicate id"]["count"] == 1
    assert problems["malformed row"]["count"] == 1 and problems["recipe without photos"]["count"] == 2
    assert "recipes.jsonl line 31" in problems["malformed row"]["examples"][0]
    logged = [json.loads(x) for x in (tmp_path / "data/import_problems.jsonl").read_text().splitlines()]
    assert len(logged) == sum(p["count"] for p in problems.values())
    assert sum(report["recipes"].values()) == 28 and sum(report["pairs"].values()) == 26


def test_refuses_when_too_few_pairs_remain(tmp_path):
    items = rows(tmp_path, 12)
    for r in items[:8]:
        r["images"] = ["photos/nowhere.jpg"]
    write_jsonl(tmp_path / "recipes.jsonl", items)
    with pytest.raises(DataError, match=r"too few photo-recipe pairs.*train \d \(needs 8\).*8 x missing photo"):
        import_collection(tmp_path / "recipes.jsonl", tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_refusals_of_bad_sources_and_outputs(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        import_collection(tmp_path / "absent.jsonl", tmp_path / "data")
    (tmp_path / "recipes.xlsx").write_text("x")
    with pytest.raises(InputError, match="unknown recipes file type"):
        import_collection(tmp_path / "recipes.xlsx", tmp_path / "data")
    (tmp_path / "two").mkdir()
    (tmp_path / "two/a.csv").write_text("title\n")
    (tmp_path / "two/b.jsonl").write_text("")
    with pytest.raises(InputError, match="exactly one recipes file"):
        import_collection(tmp_path / "two", tmp_path / "data")
    src = write_jsonl(tmp_path / "r.jsonl", rows(tmp_path, 20))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine/thesis.tex").write_text("precious")
    with pytest.raises(InputError, match="refusing to replace"):
        import_collection(src, tmp_path / "mine")
    result = CliRunner().invoke(main, ["import", str(tmp_path / "absent.csv"), "--out", str(tmp_path / "d")])
    assert result.exit_code == 2 and "no such file" in result.output


def test_exact_duplicates_never_straddle_partitions(tmp_path):
    items = rows(tmp_path, 60)
    for i in range(0, 60, 6):  # same photo bytes as the next row, and same text as the row after
        items[i + 1]["images"] = list(items[i]["images"])
        items[i + 2] = {**items[i + 3], "id": f"copy{i}"}
        items[i + 3]["partition"] = "test"
    write_jsonl(tmp_path / "recipes.jsonl", items)
    for seed in range(5):
        report = import_collection(tmp_path / "recipes.jsonl", tmp_path / f"d{seed}", cfg=ImportConfig(seed=seed))
        part = {r.id: r.partition for r in iter_recipes(tmp_path / f"d{seed}")}
        for i in range(0, 60, 6):
            assert part[f"r{i}"] == part[f"r{i + 1}"]
            assert part[f"copy{i}"] == part[f"r{i + 3}"] == "test"
        assert report["duplicates"]["groups"] == 20


def test_same_seed_same_split_and_cli_table(tmp_path):
    src = write_jsonl(tmp_path / "recipes.jsonl", rows(tmp_path, 40))
    runner = CliRunner()
    for out in ("a", "b"):
        result = runner.invoke(main, ["import", str(src), "--out", str(tmp_path / out), "--seed", "3"])
        assert result.exit_code == 0, result.output
    assert (tmp_path / "a/layer1.json").read_bytes() == (tmp_path / "b/layer1.json").read_bytes()
    assert "recipes train (photo pairs)" in result.output
    report = json.loads((tmp_path / "b/import_report.json").read_text())
    distinct = report["ingredients"]["distinct"]
    assert f"{distinct['training_names']:,} -> {distinct['after_normalising']:,}" in result.output
    bad = runner.invoke(main, ["import", str(src), "--out", str(tmp_path / "c"), "--split", "0.5,0.5"])
    assert bad.exit_code == 2 and "three non-negative fractions" in bad.output


def test_imported_export_trains_and_evaluates_like_the_native_layout(tiny_data, tmp_path):
    """The target check, at the tiny preset: JSONL export -> import -> features -> fit -> eval."""
    from trainer.evaluate import evaluate_run
    from trainer.features.pipeline import build_features
    from trainer.train import run_fit

    from benchmarks.import_parity import export_jsonl, name_agreement

    src = tmp_path / "export.jsonl"
    assert export_jsonl(tiny_data, src) == sum(1 for _ in iter_recipes(tiny_data))
    report = import_collection(src, tmp_path / "data", images_root=tiny_data)
    native = {r.id: r.partition for r in iter_recipes(tiny_data)}
    assert {r.id: r.partition for r in iter_recipes(tmp_path / "data")} == native
    assert report["ingredients"]["valid_share"] > 0.9 and report["categories"]["coverage"] > 0.5
    # the diagnostic against the synthetic det_ingrs (never read by the importer): mostly the same names
    names = name_agreement(tmp_path / "data", tiny_data)
    assert names["equal_native"] > 70 and names["purity"] > 95, names
    features = build_features(tmp_path / "data", tmp_path / "features", preset="tiny")
    run = run_fit(tmp_path / "data", features, tmp_path / "run", preset="tiny")
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["loss_triplet"] < 0.7 * rows[0]["loss_triplet"]
    result = evaluate_run(run, bag_sizes=(1000,), n_bags=1, verbose=False)
    # the same test pairs as the native layout, with the derived categories' oracle beside the model;
    # quality against the native layout is measured at the cpu preset (docs/import.md), not asserted here
    assert result["n_test"] == sum(1 for r in iter_recipes(tiny_data, "test", require_images=True))
    oracle = result["bags"][0]["references"]["category_oracle"]["image_to_recipe"]
    assert oracle["medr"] < (result["n_test"] + 1) / 2


def test_report_counts_test_recipes_only_unseen_words_tell_apart(tmp_path):
    items = rows(tmp_path, 40)
    for i, variety in enumerate(["kesar", "gulabkhas", "alphonso"]):
        items[30 + i].update(title="Mango, ripe, " + variety, ingredients=["1 mango"], instructions="Slice it.",
                             partition="test")
    write_jsonl(tmp_path / "recipes.jsonl", items)
    unseen = import_collection(tmp_path / "recipes.jsonl", tmp_path / "data")["unseen_words"]
    assert unseen["recipes"] == 3 and set(unseen["words"]) == {"kesar", "gulabkhas", "alphonso"}


def test_import_writes_collection_level_ingredient_names_marked_derived(tmp_path):
    """Lines as users write them; det_ingrs gets the name the recipes' instructions use for each."""
    from tests.test_ingredient_names import COLLECTION

    items = []
    for i in range(28):
        lines, instructions = COLLECTION[i % len(COLLECTION)]
        photo(tmp_path / "photos" / f"p{i}.jpg", i)
        items.append({"id": f"r{i}", "title": f"Weeknight supper {i}", "ingredients": lines,
                      "instructions": instructions, "images": [f"photos/p{i}.jpg"]})
    report = import_collection(write_jsonl(tmp_path / "recipes.jsonl", items), tmp_path / "data",
                               cfg=ImportConfig(split=(0.6, 0.2, 0.2)))
    det = {d["id"]: d for d in json.loads((tmp_path / "data/det_ingrs.json").read_text())}
    named = {line: name for it in items for line, name in zip(it["ingredients"],
                                                             (t["text"] for t in det[it["id"]]["ingredients"]))}
    assert named["1/2 cup unsalted butter, softened"] == "butter"
    assert named["3 garlic cloves, minced"] == named["3 cloves garlic, minced"] == "garlic"
    assert named["1 pound lean ground beef"] == "ground beef"
    assert named["1 (13.5 ounce) can coconut milk"] == "coconut milk"
    assert named["1/2 cup freshly grated Parmesan cheese"] == "parmesan cheese"
    assert all(d["derived"] and all(d["valid"]) for d in det.values())
    distinct = report["ingredients"]["distinct"]
    assert distinct["after_normalising"] < distinct["training_names"]
