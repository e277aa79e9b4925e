"""The soft image category feature (probability-weighted category vectors) next to SEJE's top-1 lookup:
same function in training and in the graph, exported graph == PyTorch, tiny-chain training, and old
top-1 runs and feature folders that still load, train and export."""
from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pytest
import torch

from seje_sdk.errors import DataError, InputError
from trainer.model import ImageEncoder, category_feature_of


def _encoder(mode: str, temperature: float = 1.0) -> ImageEncoder:
    from trainer.features.categories import CategoryClassifier

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        classifier = CategoryClassifier("resnet18", num_classes=5)
    vectors = torch.randn(5, 8)
    vectors[0] = 0
    return ImageEncoder(None, 0, classifier, vectors, embed_dim=16, classifier_size=32, share_backbone=True,
                        category_feature=mode, category_temperature=temperature).eval()


def test_soft_feature_is_the_probability_weighted_mean_and_tends_to_top1():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 0.1, 3.0]])
    vectors = torch.randn(3, 4)
    soft = category_feature_of(logits, vectors, "soft")
    assert torch.allclose(soft, torch.softmax(logits, 1) @ vectors, atol=1e-6)
    assert torch.equal(category_feature_of(logits, vectors, "top1"), vectors[[0, 2]])
    # A low temperature sharpens the weights to the top class; a near-tie moves smoothly, not by a jump.
    assert torch.allclose(category_feature_of(logits, vectors, "soft", 0.01), vectors[[0, 2]], atol=1e-4)
    tie = torch.tensor([[1.0, 1.0 + 1e-4, -5.0]])
    nudged = tie + torch.tensor([[2e-4, 0.0, 0.0]])  # the top class flips
    assert torch.norm(category_feature_of(tie, vectors, "soft") - category_feature_of(nudged, vectors, "soft")) < 1e-3
    assert torch.norm(category_feature_of(tie, vectors, "top1") - category_feature_of(nudged, vectors, "top1")) > 0.1


def test_image_encoder_soft_forward_uses_the_softmax_of_its_own_logits():
    enc = _encoder("soft", temperature=2.0)
    pixels = torch.rand(3, 3, 32, 32) * 255
    with torch.no_grad():
        emb, logits = enc(pixels)
        explicit, _ = enc(pixels, torch.softmax(logits / 2.0, 1) @ enc.category_vectors)
        top1, _ = enc(pixels, enc.category_vectors[logits.argmax(1)])
    assert torch.allclose(emb, explicit, atol=1e-6)
    assert not torch.allclose(emb, top1, atol=1e-3)


def test_soft_graph_computes_what_pytorch_does_in_onnx_runtime(tmp_path):
    import onnx

    from export.int8 import classifier_nodes
    from export.onnx import IMAGE, export_graph, ort_session

    graphs = {}
    pixels = (np.random.default_rng(0).uniform(0, 255, (6, 3, 32, 32))).astype(np.float32)
    for mode in ("soft", "top1"):
        enc = _encoder(mode)
        path = export_graph(enc, [torch.from_numpy(pixels[:2])], IMAGE, tmp_path / f"{mode}.onnx")
        got = ort_session(path, 1).run(None, {"pixels": pixels})
        with torch.no_grad():
            want = [t.numpy() for t in enc(torch.from_numpy(pixels))]
        for g, w in zip(got, want):  # (embedding, category_logits) at another batch size than traced
            assert np.allclose(g, w, atol=1e-4)
        graphs[mode] = {n.op_type for n in onnx.load(str(path)).graph.node}, classifier_nodes(path)
    assert "Softmax" in graphs["soft"][0] and "ArgMax" not in graphs["soft"][0]
    assert "ArgMax" in graphs["top1"][0]
    # int8 keeps the classifier's decision in fp32 for top1; soft has no decision to keep apart.
    assert graphs["top1"][1] and not graphs["soft"][1]


def test_bad_category_feature_settings_are_refused():
    from trainer.config import resolve_config

    with pytest.raises(InputError, match="category_feature must be one of"):
        resolve_config("tiny", overrides={"category_feature": "mean"})
    with pytest.raises(InputError, match="category_temperature must be positive"):
        resolve_config("tiny", overrides={"category_feature": "soft", "category_temperature": 0.0})


@pytest.fixture(scope="module")
def soft_run(tiny_data, tiny_features, tmp_path_factory):
    from trainer.train import run_fit

    return run_fit(tiny_data, tiny_features, tmp_path_factory.mktemp("soft") / "run", preset="tiny",
                   overrides={"category_feature": "soft", "epochs": 3})


def test_soft_training_feature_equals_the_graph_on_held_out_images(soft_run, tiny_data, tiny_features):
    """Val images' stored logits (what training reads) give the feature the raw-pixel graph computes."""
    from seje_sdk.image import ImageSpec, preprocess
    from trainer.data.recipe1m import read_split
    from trainer.datasets import category_features, load_split
    from trainer.features.store import FeatureStore
    from trainer.model import load_run

    model, cfg = load_run(soft_run)
    assert cfg["category_feature"] == "soft" and model.image_encoder.category_feature == "soft"
    store = FeatureStore.load(tiny_features)
    split = load_split(tiny_data, store, "val", 1)
    stored, offsets = category_features(store, split, "soft", cfg["category_temperature"])
    spec = ImageSpec.for_size(cfg["resolved_image_size"])
    by_id = {r.id: r for r in read_split(tiny_data, "val", require_images=True)}
    paths = [by_id[rid].image_paths[0] for rid in split.recipe_ids[:8]]
    pixels = torch.from_numpy(np.stack([preprocess(p, spec) for p in paths]))
    with torch.no_grad():
        logits = model.image_encoder.category_logits(model.image_encoder.normalise(pixels))
    graph = model.image_encoder.category_feature_of(logits)
    assert torch.allclose(graph, stored[offsets[:8]], atol=1e-4)
    rows = [json.loads(line) for line in (soft_run / "metrics.jsonl").read_text().splitlines()]
    assert rows and all(np.isfinite(r["loss_total"]) for r in rows)


def _old_features(tiny_features, tmp_path):
    """A copy of FEATURES_DIR as written before the logits file existed."""
    from trainer.features.store import LOGITS_FILE

    old = tmp_path / "old_features"
    shutil.copytree(tiny_features, old)
    (old / LOGITS_FILE).unlink()
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["files"][LOGITS_FILE]
    (old / "manifest.json").write_text(json.dumps(manifest))
    return old


def test_old_feature_folders_train_top1_and_refuse_soft_by_name(tiny_data, tiny_features, tmp_path):
    from trainer.train import run_fit

    old = _old_features(tiny_features, tmp_path)
    run = run_fit(tiny_data, old, tmp_path / "top1", preset="tiny", overrides={"category_feature": "top1", "epochs": 1})
    assert json.loads((run / "config.json").read_text())["category_feature"] == "top1"
    with pytest.raises(DataError, match="image_category_logits.npy.*--category-feature top1"):
        run_fit(tiny_data, old, tmp_path / "soft", preset="tiny", overrides={"category_feature": "soft", "epochs": 1})
    assert not (tmp_path / "soft" / "checkpoints").exists()
    # The fix the message names works: a features rerun on the old folder rebuilds it with the logits.
    from trainer.features.pipeline import build_features
    from trainer.features.store import LOGITS_FILE, FeatureStore

    build_features(tiny_data, old, preset="tiny")
    assert (old / LOGITS_FILE).is_file() and FeatureStore.load(old).image_logits is not None


def test_run_saved_before_the_option_loads_and_exports_as_top1(tiny_run, tmp_path):
    import onnx

    from export.bundle import export_run
    from trainer.model import load_run

    old = tmp_path / "old_run"
    shutil.copytree(tiny_run, old, ignore=shutil.ignore_patterns("cache"))
    config = json.loads((old / "config.json").read_text())
    for key in ("category_feature", "category_temperature"):
        config.pop(key, None)
    (old / "config.json").write_text(json.dumps(config))
    model, cfg = load_run(old)
    assert model.image_encoder.category_feature == "top1"
    bundle = export_run(old, tmp_path / "bundle", int8=False)
    manifest = json.loads((bundle / "manifest.json").read_text())
    ops = {n.op_type for n in onnx.load(str(bundle / manifest["variants"]["onnxruntime"]["fp32"]["image"])).graph.node}
    assert "ArgMax" in ops and "Softmax" not in ops


def test_collector_tables_a_run_with_its_int8_damage_and_references(tiny_run, tiny_bundle, tmp_path):
    from click.testing import CliRunner

    from benchmarks.category_feature import main
    from trainer.evaluate import evaluate_run

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("cache"))
    evaluate_run(run, None, bag_sizes=(1000,), n_bags=1)
    result = CliRunner().invoke(main, [f"{run}:{tiny_bundle}", "--out", str(tmp_path / "cf"), "--note", "tiny"])
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "cf.json").read_text())
    row = saved["rows"][0]
    assert row["mode"] == "soft" and 0.0 <= row["int8"]["low_cos_share"] <= 1.0
    assert set(row["int8"]["r1_interval"]) == {"image_to_recipe", "recipe_to_image"}
    table = (tmp_path / "cf.md").read_text()
    assert "| **mean ± sd** | soft |" in table and "| category-only oracle |" in table and "| chance |" in table
    bad = CliRunner().invoke(main, [str(run), "--out", str(tmp_path / "x")])
    assert bad.exit_code != 0 and "RUN_DIR:BUNDLE_DIR" in bad.output


def test_resuming_a_run_saved_before_the_option_keeps_top1(tiny_data, tiny_features, tmp_path):
    from trainer.train import run_fit

    run = run_fit(tiny_data, tiny_features, tmp_path / "run", preset="tiny",
                  overrides={"category_feature": "top1", "epochs": 2, "stop_after_epoch": 1, "text_encoder": False})
    config = json.loads((run / "config.json").read_text())
    del config["category_feature"], config["category_temperature"]
    (run / "config.json").write_text(json.dumps(config))
    run_fit(tiny_data, tiny_features, run, preset="tiny", resume=True, overrides={"stop_after_epoch": None})
    assert json.loads((run / "config.json").read_text())["category_feature"] == "top1"
