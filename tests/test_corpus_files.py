"""Small file inputs (seje_sdk.corpus.reader) and index_from_files: what `seje index build --recipes/--images` builds."""
import json
import shutil

import pytest
from test_sdk_support import RECIPES, sdk_bundle, sdk_images  # noqa: F401  (session fixtures)

from seje_sdk import Retriever
from seje_sdk.catalog import read_catalog
from seje_sdk.corpus.index_from_files import build_from_files
from seje_sdk.corpus.reader import image_files, read_recipes
from seje_sdk.errors import InputError


def test_read_recipes_takes_a_list_a_single_object_and_json_lines(tmp_path):
    (tmp_path / "layer1.json").write_text(json.dumps(RECIPES))
    (tmp_path / "one.json").write_text(json.dumps(RECIPES[1]))
    (tmp_path / "r.jsonl").write_text("\n".join(json.dumps(r) for r in RECIPES) + "\n\n")
    assert [r["id"] for r in read_recipes(tmp_path / "layer1.json")] == ["cake", "pasta", "wine"]
    assert read_recipes(tmp_path / "one.json") == [RECIPES[1]]
    assert read_recipes(tmp_path / "r.jsonl") == RECIPES
    (tmp_path / "numbers.json").write_text("[1, 2]")
    with pytest.raises(InputError, match="numbers.json: expected a recipe object"):
        read_recipes(tmp_path / "numbers.json")
    (tmp_path / "broken.jsonl").write_text('{"id": 1}\n{oops\n')
    with pytest.raises(InputError, match="broken.jsonl: not valid JSON"):
        read_recipes(tmp_path / "broken.jsonl")


def test_image_files_walks_folders_sorted_and_keeps_named_files(tmp_path):
    (tmp_path / "b").mkdir()
    for name in ("b/2.png", "b/1.JPG", "a.webp", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert image_files([tmp_path]) == [tmp_path / "a.webp", tmp_path / "b" / "1.JPG", tmp_path / "b" / "2.png"]
    assert image_files([tmp_path / "notes.txt", tmp_path / "b"]) == [tmp_path / "notes.txt", tmp_path / "b" / "1.JPG", tmp_path / "b" / "2.png"]


@pytest.fixture()
def retriever(sdk_bundle):
    r = Retriever.load(sdk_bundle, backend="onnxruntime")
    yield r
    r.close()


def test_build_from_files_indexes_both_modalities_with_their_catalog(retriever, sdk_bundle, sdk_images, tmp_path):
    (tmp_path / "layer1.json").write_text(json.dumps(RECIPES))
    report = build_from_files(retriever, tmp_path / "idx", [tmp_path / "layer1.json"], [sdk_images[0].parent])
    assert report.counts == [("recipes", 3, 0), ("images", len(sdk_images), 0)] and report.kind == "exact"
    catalog = read_catalog(tmp_path / "idx")
    assert catalog[("recipe", "pasta")]["title"] == "Tomato pasta"
    assert {row["path"] for (m, _), row in catalog.items() if m == "image"} == {str(p.resolve()) for p in sdk_images}
    fresh = Retriever.load(sdk_bundle, backend="onnxruntime")
    fresh.load_index(tmp_path / "idx")
    assert {i for i, _ in fresh.search(images=[sdk_images[0]], k=3)[0]} == {"cake", "pasta", "wine"}
    assert fresh.search(recipes=[RECIPES[0]], k=1)[0][0][0] in {p.name for p in sdk_images}  # image ids: file names, not paths
    fresh.close()


def test_build_from_files_skips_bad_items_only_when_asked(retriever, sdk_images, tmp_path):
    folder = tmp_path / "photos"
    shutil.copytree(sdk_images[0].parent, folder)
    (folder / "zz_broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(InputError, match="zz_broken.jpg"):
        build_from_files(retriever, tmp_path / "strict", image_paths=[folder])
    assert not (tmp_path / "strict").exists()
    report = build_from_files(retriever, tmp_path / "lenient", image_paths=[folder], skip_bad=True)
    assert report.counts == [("images", len(sdk_images), 1)]
    assert not any(row["path"].endswith("zz_broken.jpg") for row in read_catalog(tmp_path / "lenient").values())


def test_build_from_files_refuses_empty_inputs_before_writing(retriever, tmp_path):
    with pytest.raises(InputError, match="nothing to index"):
        build_from_files(retriever, tmp_path / "a")
    (tmp_path / "empty.json").write_text("[]")
    with pytest.raises(InputError, match="no recipes in the file"):
        build_from_files(retriever, tmp_path / "b", recipe_files=[tmp_path / "empty.json"])
    (tmp_path / "only_bad").mkdir()
    (tmp_path / "only_bad" / "x.png").write_bytes(b"")
    with pytest.raises(InputError, match="every item was skipped"):
        build_from_files(retriever, tmp_path / "c", image_paths=[tmp_path / "only_bad"], skip_bad=True)
    assert not any((tmp_path / d).exists() for d in ("a", "b", "c"))
