"""Files someone hands you are data, never programs (issue 23).

Each crafted file below would create a marker file the moment it is unpickled; each is refused
with a message naming it, and the marker never appears. Bundles may name only their own files:
a manifest entry or ONNX external data leading out of the folder (directly or by a symbolic
link) is refused by name.
"""
from __future__ import annotations

import hashlib
import json
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from test_sdk_support import sdk_bundle  # noqa: F401  (session fixture)

from seje_sdk.bundle import Bundle, bundle_fingerprint
from seje_sdk.errors import BundleError, DataError

ROOT = Path(__file__).resolve().parents[1]


class Payload:
    """Unpickling this opens (creates) `marker`: the smallest proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def seje_train(*args: str) -> subprocess.CompletedProcess:
    code = "import sys; from trainer.cli import main; sys.argv[0] = 'seje-train'; main()"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


# ---------------------------------------------------------------- dataset: classes1M.pkl
def test_crafted_classes_file_is_refused_unrun(tmp_path):
    from trainer.data.classes import read_classes

    marker = tmp_path / "MARKER"
    path = tmp_path / "classes1M.pkl"
    with open(path, "wb") as f:
        pickle.dump({"a1b2c3": Payload(marker)}, f)
        pickle.dump({0: "background", 1: "soup"}, f)
    with pytest.raises(DataError, match=r"classes1M\.pkl: not a plain classes file .*io\.open"):
        read_classes(path)
    assert not marker.exists()


def test_crafted_classes_file_in_a_dataset_stops_the_cli(tmp_path):
    from trainer.data.synth import generate

    data = tmp_path / "data"
    generate(data, n_recipes=24, seed=3, image_size=32, images=False)
    marker = tmp_path / "MARKER"
    with open(data / "classes1M.pkl", "wb") as f:
        pickle.dump(Payload(marker), f)
        pickle.dump({0: "background"}, f)
    res = seje_train("data-stats", str(data))
    assert res.returncode == 2 and "not a plain classes file" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr and not marker.exists()


def test_classes_written_are_read_back_and_python2_pickles_still_load(tmp_path):
    from trainer.data.classes import read_classes, write_classes

    class_of, names = {"a1": 1, "b2": 0}, {0: "background", 1: "soup"}
    write_classes(tmp_path / "c.pkl", class_of, names)
    assert read_classes(tmp_path / "c.pkl") == (class_of, names)
    with open(tmp_path / "old.pkl", "wb") as f:  # protocol 2, names as a list: older re-releases
        pickle.dump(class_of, f, protocol=2)
        pickle.dump(["background", "soup"], f, protocol=2)
    assert read_classes(tmp_path / "old.pkl") == (class_of, names)


def test_gensim_pickle_word2vec_is_refused_with_the_conversion(tmp_path):
    from seje_sdk.errors import InputError
    from trainer.features.word2vec import load_word2vec_file

    marker = tmp_path / "MARKER"
    (tmp_path / "w2v.kv").write_bytes(pickle.dumps(Payload(marker), protocol=4))  # what KeyedVectors.save writes
    with pytest.raises(InputError, match=r"w2v\.kv: a gensim model/KeyedVectors file is a Python pickle.*"
                                         r"save_word2vec_format"):
        load_word2vec_file(tmp_path / "w2v.kv")
    assert not marker.exists()


# ---------------------------------------------------------------- run folders
@pytest.fixture()
def run_copy(tiny_run, tmp_path) -> Path:
    return Path(shutil.copytree(tiny_run, tmp_path / "run"))


def test_crafted_checkpoint_is_refused_by_export_and_eval(run_copy, tmp_path):
    from trainer.model import load_run

    marker = tmp_path / "MARKER"
    torch.save({"model": {}, "note": Payload(marker)}, run_copy / "checkpoints" / "best.pt")
    with pytest.raises(DataError, match=r"best\.pt: not plain tensors .*seje-train convert .*--trust-pickles"):
        load_run(run_copy)
    res = subprocess.run([sys.executable, "-c", "import sys; from export.cli import main; main()", str(run_copy),
                          "--out", str(tmp_path / "bundle")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "not plain tensors" in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert not marker.exists() and not (tmp_path / "bundle").exists()


def test_crafted_feature_cache_is_refused_on_resume(run_copy, tiny_data, tiny_features, tmp_path):
    from trainer.train import run_fit

    marker = tmp_path / "MARKER"
    torch.save({"key": Payload(marker), "features": torch.zeros(1)}, run_copy / "cache" / "train_features.pt")
    with pytest.raises(DataError, match=r"train_features\.pt: not plain tensors .*delete it .*--trust-pickles"):
        run_fit(tiny_data, tiny_features, run_copy, resume=True, overrides={"epochs": 9}, check=False)
    assert not marker.exists()


def test_convert_needs_trust_then_makes_an_old_run_loadable(run_copy, tmp_path):
    from trainer.model import load_run

    # An older writer's checkpoint: a numpy scalar and array where plain values belong.
    state = torch.load(run_copy / "checkpoints" / "best.pt", weights_only=True)
    state["schedule"]["best_score"] = np.float64(state["schedule"]["best_score"])
    state["labels"] = np.arange(3)
    torch.save(state, run_copy / "checkpoints" / "best.pt")
    with pytest.raises(DataError, match="seje-train convert"):
        load_run(run_copy)
    res = seje_train("convert", str(run_copy))
    assert res.returncode == 2 and "--trust-pickles" in res.stderr and "Traceback" not in res.stderr, res.stderr
    res = seje_train("convert", str(run_copy), "--trust-pickles")
    assert res.returncode == 0 and "rewrote best.pt" in res.stdout, res.stderr
    model, _ = load_run(run_copy)
    got = torch.load(run_copy / "checkpoints" / "best.pt", weights_only=True)
    assert isinstance(got["schedule"]["best_score"], float) and torch.equal(got["labels"], torch.arange(3))
    for name, value in model.state_dict().items():  # the trained weights came through unchanged
        if name in state["model"]:
            assert torch.equal(value, state["model"][name])


def test_convert_without_trust_never_unpickles(run_copy, tmp_path):
    marker = tmp_path / "MARKER"
    torch.save({"model": Payload(marker)}, run_copy / "checkpoints" / "last.pt")
    res = seje_train("convert", str(run_copy))
    assert res.returncode == 2 and "last.pt" in res.stderr and not marker.exists(), res.stderr


# ---------------------------------------------------------------- bundles
@pytest.fixture()
def bundle_copy(sdk_bundle, tmp_path) -> Path:
    return Path(shutil.copytree(sdk_bundle, tmp_path / "bundle"))


def _reseal(bundle: Path) -> None:
    """Recompute the manifest's sha256s and fingerprint, as a careful attacker would."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    for rel in manifest["files"]:
        path = bundle / rel
        if path.is_file():
            manifest["files"][rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest["fingerprint"] = bundle_fingerprint(manifest["files"])
    (bundle / "manifest.json").write_text(json.dumps(manifest))


def test_variant_entry_outside_the_bundle_is_refused(bundle_copy, tmp_path):
    outside = tmp_path / "elsewhere.onnx"
    shutil.copy(bundle_copy / "image_encoder.onnx", outside)
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    manifest["variants"]["onnxruntime"]["fp32"]["image"] = "../elsewhere.onnx"
    manifest["files"]["../elsewhere.onnx"] = ""
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    _reseal(bundle_copy)
    with pytest.raises(BundleError, match=r"'\.\./elsewhere\.onnx' points outside the bundle"):
        Bundle.load(bundle_copy)
    b = Bundle.load(bundle_copy, verify=False)
    with pytest.raises(BundleError, match=r"onnxruntime fp32 image model '\.\./elsewhere\.onnx' points outside"):
        b.model_path("onnxruntime", "fp32", "image")


def test_symlink_out_of_the_bundle_is_refused(bundle_copy, tmp_path):
    outside = tmp_path / "secret.json"
    shutil.copy(bundle_copy / "tables" / "entities.json", outside)
    (bundle_copy / "tables" / "entities.json").unlink()
    (bundle_copy / "tables" / "entities.json").symlink_to(outside)  # same bytes: the sha256 still matches
    with pytest.raises(BundleError, match=r"'tables/entities\.json' points outside the bundle"):
        Bundle.load(bundle_copy)


def _external_model(bundle: Path, location: str, data_file: Path) -> None:
    """image_encoder.onnx with its largest initializer moved to `data_file`, named as `location`."""
    import onnx

    model = onnx.load(str(bundle / "image_encoder.onnx"))
    tensor = max(model.graph.initializer, key=lambda t: len(t.raw_data))
    data_file.write_bytes(tensor.raw_data)
    size = len(tensor.raw_data)
    tensor.ClearField("raw_data")
    tensor.data_location = onnx.TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", str(size))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    (bundle / "image_encoder.onnx").write_bytes(model.SerializeToString())  # onnx.save refuses '..' itself
    _reseal(bundle)


def test_onnx_external_data_outside_the_bundle_is_refused(bundle_copy, tmp_path):
    _external_model(bundle_copy, "../weights.bin", tmp_path / "weights.bin")
    with pytest.raises(BundleError, match=r"image_encoder\.onnx: external data of tensor .* '\.\./weights\.bin' "
                                          r"points outside the bundle"):
        Bundle.load(bundle_copy)
    with pytest.raises(BundleError, match="points outside the bundle"):  # unverified loads are held to it too
        Bundle.load(bundle_copy, verify=False).model_path("onnxruntime", "fp32", "image")


def test_onnx_external_data_through_a_symlink_is_refused(bundle_copy, tmp_path):
    _external_model(bundle_copy, "weights.bin", tmp_path / "weights.bin")
    (bundle_copy / "weights.bin").symlink_to(tmp_path / "weights.bin")
    with pytest.raises(BundleError, match=r"external data of tensor .* 'weights\.bin' points outside the bundle"):
        Bundle.load(bundle_copy)


def test_onnx_external_data_inside_the_bundle_still_runs(bundle_copy, tmp_path):
    from seje_sdk import Retriever
    from test_sdk_support import make_images

    images = make_images(tmp_path / "img", n=2)
    want = Retriever.load(bundle_copy).embed_images(images)
    _external_model(bundle_copy, "weights.bin", bundle_copy / "weights.bin")
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    manifest["files"]["weights.bin"] = ""
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    _reseal(bundle_copy)
    np.testing.assert_allclose(Retriever.load(bundle_copy).embed_images(images), want, rtol=1e-5, atol=1e-6)
