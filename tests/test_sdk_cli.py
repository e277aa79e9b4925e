"""The `seje` command: embed, index build, search, info; exit codes 0 ok, 2 bad usage or input."""
import json

import numpy as np
import pytest
from click.testing import CliRunner
from test_sdk_support import RECIPES, sdk_bundle, sdk_images  # noqa: F401  (session fixtures)

from seje_sdk.cli import main


@pytest.fixture(scope="module")
def files(tmp_path_factory, sdk_images):
    folder = tmp_path_factory.mktemp("cli")
    (folder / "layer1.json").write_text(json.dumps(RECIPES))
    (folder / "one.json").write_text(json.dumps(RECIPES[1]))
    (folder / "recipes.jsonl").write_text("\n".join(json.dumps(r) for r in RECIPES))
    (folder / "latin1.json").write_bytes('{"instructions": ["Caf\xe9"]}'.encode("latin-1"))
    return folder


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_info_table_and_json(sdk_bundle):
    res = run("info", sdk_bundle)
    assert res.exit_code == 0, res.output
    assert "onnxruntime fp32 on cpu" in res.output and "variants tensorrt" in res.output
    data = json.loads(run("info", sdk_bundle, "--json").output)
    assert data["embedding_dim"] == 16 and data["providers"]["image"] == ["CPUExecutionProvider"]


def test_embed_images_and_recipes(sdk_bundle, sdk_images, files, tmp_path):
    folder = sdk_images[0].parent
    res = run("embed", sdk_bundle, folder, "--out", tmp_path / "img.npy")
    assert res.exit_code == 0, res.output
    emb = np.load(tmp_path / "img.npy")
    assert emb.shape == (len(sdk_images), 16)
    listing = json.loads((tmp_path / "img.json").read_text())
    assert listing["items"] == [str(p) for p in sorted(sdk_images)] and listing["skipped"] == []
    res = run("embed", sdk_bundle, files / "recipes.jsonl", "--out", tmp_path / "rec.npy")
    assert res.exit_code == 0 and np.load(tmp_path / "rec.npy").shape == (3, 16)


def test_index_build_then_search_table_and_json(sdk_bundle, sdk_images, files, tmp_path):
    res = run("index", "build", sdk_bundle, "--recipes", files / "layer1.json", "--images", sdk_images[0].parent,
              "--out", tmp_path / "idx")
    assert res.exit_code == 0, res.output
    assert "recipes  3" in res.output
    assert "(exact); exact recommended up to 100,000 vectors" in res.output and "benchmarks/results/retrieval.md" in res.output
    res = run("search", sdk_bundle, "--index", tmp_path / "idx", "--image", sdk_images[0], "-k", "2")
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[0].split() == ["rank", "id", "score", "title"] and len(res.output.splitlines()) == 4
    assert res.output.splitlines()[2].endswith(("Butter cake", "Tomato pasta", "Red wine sauce"))  # titles from the catalog
    hits = json.loads(run("search", sdk_bundle, "--index", tmp_path / "idx", "--image", sdk_images[0], "-k", "3", "--json").output)
    assert sorted(h["id"] for h in hits[0]) == ["cake", "pasta", "wine"]
    hits = json.loads(run("search", sdk_bundle, "--index", tmp_path / "idx", "--recipe", files / "one.json", "-k", "1", "--json").output)
    assert hits[0][0]["id"] in {p.name for p in sdk_images}  # an id, not a server path


def test_index_build_kind_ivf_searches_like_exact(sdk_bundle, sdk_images, files, tmp_path):
    """`--kind ivf` (FAISS IVF + float16 re-rank) through the Retriever: same hits as exact on a tiny collection."""
    pytest.importorskip("faiss")
    res = run("index", "build", sdk_bundle, "--images", sdk_images[0].parent, "--out", tmp_path / "ivf", "--kind", "ivf")
    assert res.exit_code == 0, res.output
    assert "(ivf)" in res.output and "recommended" not in res.output  # an explicit kind gets no advice
    assert json.loads((tmp_path / "ivf" / "image" / "manifest.json").read_text())["kind"] == "ivf"
    run("index", "build", sdk_bundle, "--images", sdk_images[0].parent, "--out", tmp_path / "exact")
    query = ["search", sdk_bundle, "--recipe", files / "one.json", "-k", "3", "--json"]
    ivf, exact = (json.loads(run(*query, "--index", tmp_path / name).output) for name in ("ivf", "exact"))
    assert [h["id"] for h in ivf[0]] == [h["id"] for h in exact[0]]
    assert [h["score"] for h in ivf[0]] == pytest.approx([h["score"] for h in exact[0]], abs=2e-3)


def test_bad_input_exits_2_with_a_message(sdk_bundle, sdk_images, files, tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    res = run("embed", sdk_bundle, sdk_images[0], tmp_path / "empty.jpg", "--out", tmp_path / "x.npy")
    assert res.exit_code == 2 and "images[1]" in res.output and "zero-byte" in res.output
    assert not (tmp_path / "x.npy").exists()  # nothing half-written
    res = run("embed", sdk_bundle, sdk_images[0], tmp_path / "empty.jpg", "--out", tmp_path / "x.npy", "--skip-bad")
    assert res.exit_code == 0 and json.loads((tmp_path / "x.json").read_text())["skipped"][0]["position"] == 1
    res = run("search", sdk_bundle, "--index", tmp_path, "--image", sdk_images[0])
    assert res.exit_code == 2 and "manifest.json is missing" in res.output
    res = run("embed", sdk_bundle, files / "latin1.json", "--out", tmp_path / "y.npy")
    assert res.exit_code == 2 and "latin1.json: not valid UTF-8" in res.output
    res = run("info", tmp_path)
    assert res.exit_code == 2 and "manifest.json is missing" in res.output


def test_bad_usage_exits_2(sdk_bundle, tmp_path):
    assert run("search", sdk_bundle, "--index", tmp_path).exit_code == 2
    assert run("index", "build", sdk_bundle, "--out", tmp_path / "i").exit_code == 2
    assert run("embed", sdk_bundle, "a.jpg", "r.json", "--out", tmp_path / "z.npy").exit_code == 2
    assert run("nosuchcommand").exit_code == 2


def test_cli_messages_speak_cli(sdk_bundle, sdk_images, files, tmp_path):
    res = run("index", "build", sdk_bundle, "--recipes", files / "layer1.json", "--out", tmp_path / "recipes_only")
    assert res.exit_code == 0, res.output
    # `seje info` on an index folder says what it is and what to pass instead.
    res = run("info", tmp_path / "recipes_only")
    assert res.exit_code == 2 and "is an index folder" in res.output and "--index" in res.output
    # A recipe query on a recipe-only index: which index is missing, in CLI terms (no Python advice).
    res = run("search", sdk_bundle, "--index", tmp_path / "recipes_only", "--recipe", files / "one.json")
    assert res.exit_code == 2 and "holds no images" in res.output and "seje index build" in res.output
    assert "--images IMAGE_DIR" in res.output and "add_images" not in res.output
    # A query file holding no recipe exits 2 instead of printing nothing.
    (tmp_path / "empty.json").write_text("[]")
    res = run("search", sdk_bundle, "--index", tmp_path / "recipes_only", "--recipe", tmp_path / "empty.json")
    assert res.exit_code == 2 and "empty.json: holds no recipe" in res.output
    res = run("index", "build", sdk_bundle, "--recipes", tmp_path / "empty.json", "--out", tmp_path / "none")
    assert res.exit_code == 2 and not (tmp_path / "none").exists()
    # Closed option sets are checked when parsed, before any bundle is loaded.
    res = run("search", sdk_bundle, "--index", tmp_path / "recipes_only", "--image", sdk_images[0], "--precision", "fp8")
    assert res.exit_code == 2 and "'fp8' is not one of 'fp32', 'fp16', 'int8'" in res.output


def test_export_and_train_help_show_real_defaults_and_bad_input_exits_2(tmp_path):
    from export.cli import main as export_main
    from trainer.cli import main as train_main

    res = CliRunner().invoke(export_main, ["--help"])
    assert res.exit_code == 0 and "default: 17" in " ".join(res.output.split()) and "DEFAULT_OPSET" not in res.output
    (tmp_path / "run").mkdir()
    res = CliRunner().invoke(export_main, [str(tmp_path / "run"), "--out", str(tmp_path / "b")])
    assert res.exit_code == 2 and "no config.json" in res.output and not (tmp_path / "b").exists()
    res = CliRunner().invoke(train_main, ["data-stats", str(tmp_path / "run")])
    assert res.exit_code == 2 and "layer1.json: missing" in res.output
