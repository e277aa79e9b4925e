"""The pre-flight dataset check: long commands refuse unusable data in seconds, with one message."""
import json
import shutil
import time

import pytest
from click.testing import CliRunner

from seje_sdk.errors import DataError
from trainer.cli import main as train_main
from trainer.data.synth import generate
from trainer.data.validate import check_dataset


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """60 recipes with photos, and the same recipes without any photo."""
    root = tmp_path_factory.mktemp("validate")
    generate(root / "photos", n_recipes=60, seed=1, image_size=48)
    generate(root / "text_only", n_recipes=60, seed=1, image_size=48, images=False)
    return root


def test_a_good_dataset_passes_with_a_summary(small):
    check = check_dataset(small / "photos")
    layer1 = json.loads((small / "photos" / "layer1.json").read_text())
    want = {part: sum(r["partition"] == part for r in layer1) for part in ("train", "val", "test")}
    assert dict(check.pairs) == want and check.read_all  # every synthetic recipe has photos
    assert check.decoded == len(check.sample) > 0 and not check.undecodable and check.classes >= 2
    assert f"train/val/test pairs {want['train']}/{want['val']}/{want['test']}" in check.summary()


def test_text_only_collection_is_refused_within_seconds(small, tmp_path):
    start = time.time()
    res = CliRunner().invoke(train_main, ["features", "--data", str(small / "text_only"), "--out", str(tmp_path / "f"),
                                          "--preset", "tiny"])
    assert time.time() - start < 30
    assert res.exit_code == 2, res.output
    message = " ".join(res.output.split())
    assert f"{small / 'text_only'} holds recipes without photos" in message and "none of them is a file" in message
    assert "seje index build BUNDLE --recipes" in message and "Traceback" not in res.output
    assert not (tmp_path / "f").exists()  # nothing was started, nothing written
    # fit refuses it the same way, before reading features or training (the features folder is never opened)
    from trainer.train import run_fit

    with pytest.raises(DataError, match="holds recipes without photos"):
        run_fit(small / "text_only", tmp_path / "no_features", tmp_path / "run", preset="tiny")
    assert not (tmp_path / "run").exists()


def test_recipes_without_layer2_are_a_text_only_collection(small, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(small / "text_only" / "layer1.json", data / "layer1.json")
    with pytest.raises(DataError, match=r"holds recipes without photos \(it has layer1.json but no layer2.json"):
        check_dataset(data, "fit")


def test_too_few_pairs_and_undecodable_photos(small, tmp_path):
    data = shutil.copytree(small / "photos", tmp_path / "data")
    shutil.rmtree(data / "images" / "test")  # the test split loses its photos
    with pytest.raises(DataError, match=r"too few image-recipe pairs .* in test 0 \(needs 2\)"):
        check_dataset(data)
    data = shutil.copytree(small / "photos", tmp_path / "corrupt")
    for path in (data / "images").rglob("*"):
        if path.is_file():
            path.write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match=r"none of \d+ sampled photos decodes.*--verify-images"):
        check_dataset(data)


def test_one_category_is_refused(small, tmp_path):
    import pickle

    data = shutil.copytree(small / "photos", tmp_path / "data")
    ids = [r["id"] for r in json.loads((data / "layer1.json").read_text())]
    with open(data / "classes1M.pkl", "wb") as f:  # Recipe1M's format: two consecutive pickles
        pickle.dump({i: 1 for i in ids}, f)
        pickle.dump({0: "background", 1: "soup"}, f)
    with pytest.raises(DataError, match="1 category; the category classifier needs at least 2"):
        check_dataset(data)
