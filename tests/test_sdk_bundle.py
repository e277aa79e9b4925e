"""Bundle loading: a bundle is used only when every file matches its manifest."""
import json
import shutil

import pytest
from test_sdk_support import make_bundle, sdk_bundle  # noqa: F401  (session fixture)

from seje_sdk import Retriever
from seje_sdk.bundle import BUNDLE_SCHEMA, Bundle, bundle_fingerprint
from seje_sdk.errors import BundleError


@pytest.fixture()
def copy(sdk_bundle, tmp_path):
    """A private copy of the bundle that a test may damage."""
    return shutil.copytree(sdk_bundle, tmp_path / "bundle")


def test_load_reads_manifest(sdk_bundle):
    b = Bundle.load(sdk_bundle)
    assert b.embedding_dim == 16 and b.image_spec.size == 32 and b.text_limits.max_sentences == 5
    assert b.precisions("onnxruntime") == ["fp32", "int8"] and b.precisions("tensorrt") == []
    assert b.skipped_reason("tensorrt") == "no NVIDIA GPU at export time"
    assert b.model_path("onnxruntime", "int8", "image").name == "image_encoder.int8.onnx"


def test_tampered_file_is_named(copy):
    onnx = copy / "recipe_encoder.onnx"
    onnx.write_bytes(onnx.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(BundleError, match=r"recipe_encoder\.onnx was modified or corrupted"):
        Retriever.load(copy)


def test_changed_vocabulary_is_refused(copy):
    vocab = json.loads((copy / "tables" / "vocab.json").read_text())
    vocab["flour"], vocab["sugar"] = vocab["sugar"], vocab["flour"]
    (copy / "tables" / "vocab.json").write_text(json.dumps(vocab))
    with pytest.raises(BundleError, match=r"tables/vocab\.json was modified"):
        Bundle.load(copy)


def test_truncated_and_missing_files(copy, sdk_bundle):
    (copy / "tables" / "idf.npy").write_bytes(b"")
    with pytest.raises(BundleError, match=r"tables/idf\.npy"):
        Bundle.load(copy)
    shutil.copy(sdk_bundle / "tables" / "idf.npy", copy / "tables" / "idf.npy")
    (copy / "tagger.onnx").unlink()
    with pytest.raises(BundleError, match=r"tagger\.onnx is missing"):
        Bundle.load(copy)


def test_other_schema_version_is_refused(copy):
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["schema_version"] = "seje-bundle/2"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"schema 'seje-bundle/2'.*reads 'seje-bundle/1'"):
        Bundle.load(copy)
    assert BUNDLE_SCHEMA == "seje-bundle/1"


def test_schema_999_names_manifest_and_says_what_to_run(copy):
    import seje_sdk

    manifest = json.loads((copy / "manifest.json").read_text())
    manifest.update(schema_version=999, seje_version=seje_sdk.__version__, source={"run_dir": "runs/demo/run"})
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError) as e:
        Bundle.load(copy)
    msg = str(e.value)
    assert "manifest.json has schema 999" in msg and f"({seje_sdk.__version__}) reads 'seje-bundle/1' only" in msg
    assert f"`seje-export runs/demo/run --out {copy}`" in msg
    assert "install" not in msg and "wrote it" not in msg  # never advice to install the version already installed


def test_edited_fingerprint_is_refused_naming_manifest(copy):
    manifest = json.loads((copy / "manifest.json").read_text())
    good = manifest["fingerprint"]
    assert good == bundle_fingerprint(manifest["files"])  # derived from the file hashes
    manifest["fingerprint"] = good[:-1] + ("0" if good[-1] != "0" else "1")
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"manifest\.json states fingerprint .* but its files give .*manifest\.json was edited"
                       ) as e:
        Bundle.load(copy)
    assert good in str(e.value)  # the two differ in the last character: both are shown in full
    Bundle.load(copy, verify=False)  # verify=False trusts the manifest, by request


def test_index_mismatch_shows_where_fingerprints_differ():
    from seje_sdk.errors import tell_apart

    a, b = "ab" * 32, "ab" * 20 + "cd" + "ab" * 11
    shown = tell_apart(a, b)
    assert shown[0] != shown[1] and len(shown[0]) == 44 + 3 and shown[0].startswith(a[:12])
    assert tell_apart("0" * 64, "f" * 64) == ("0" * 12 + "...", "f" * 12 + "...")


def test_an_index_folder_is_not_a_bundle(sdk_bundle, tmp_path):
    r = Retriever.load(sdk_bundle, backend="onnxruntime")
    r.add_recipes([{"title": "x", "ingredients": ["salt"], "instructions": ["Stir."]}], ids=["x"])
    r.save_index(tmp_path / "idx")
    with pytest.raises(BundleError, match=r"is an index folder .*give this folder as --index"):
        Bundle.load(tmp_path / "idx")


def test_not_a_bundle(tmp_path):
    with pytest.raises(BundleError, match="manifest.json is missing"):
        Bundle.load(tmp_path)
    with pytest.raises(BundleError, match="not a folder"):
        Bundle.load(tmp_path / "nope")
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        Bundle.load(tmp_path)


def test_manifest_paths_cannot_escape_the_bundle(copy):
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["files"]["../outside.onnx"] = "0" * 64
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="outside the bundle"):
        Bundle.load(copy)


def test_missing_variant_says_what_exists(sdk_bundle):
    b = Bundle.load(sdk_bundle)
    with pytest.raises(BundleError, match=r"no onnxruntime fp16 variant \(it has \['fp32', 'int8'\]\)"):
        b.variant("onnxruntime", "fp16")
    with pytest.raises(BundleError, match="skipped at export: no NVIDIA GPU"):
        b.variant("tensorrt", "fp16")
    # One wording, also for the benchmarks' skipped rows: what the bundle has, and the export flag that adds it.
    assert b.lacks("onnxruntime", "fp32") is None
    assert b.lacks("onnxruntime", "fp16").endswith("no onnxruntime fp16 variant (it has ['fp32', 'int8']); export it with seje-export --fp16")
    from benchmarks.cases import GPU_BACKENDS
    from benchmarks.retrieval import variant_list

    rows = {(backend, precision): why for backend, precision, why in variant_list(b)}
    assert rows[("onnxruntime-cpu", "int8")] is None and rows[("onnxruntime-cpu", "fp32")] is None
    assert all(rows[(backend, precision)] for backend, precision in GPU_BACKENDS)  # no GPU here, no engines in the bundle


def test_model_with_the_wrong_io_is_refused(copy):
    # A tagger graph placed where the image encoder belongs (manifest sha256s updated to match).
    import hashlib

    (copy / "image_encoder.onnx").write_bytes((copy / "tagger.onnx").read_bytes())
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["files"]["image_encoder.onnx"] = hashlib.sha256((copy / "tagger.onnx").read_bytes()).hexdigest()
    manifest["fingerprint"] = bundle_fingerprint(manifest["files"])
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"image_encoder\.onnx: the image model has inputs \['tokens', 'lengths'\]"):
        Retriever.load(copy, backend="onnxruntime")
