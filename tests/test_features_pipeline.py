"""The features stage end to end on the tiny synthetic dataset (conftest's tiny_features), and the SDK's
reproduction of the stored term features through an ONNX tagger."""
from __future__ import annotations

import json
import os

import numpy as np
import onnxruntime as ort
import pytest
import torch
from click.testing import CliRunner

from seje_sdk.errors import DataError
from seje_sdk.io import sha256_file
from seje_sdk.terms import TermTables, term_features
from seje_sdk.text import RecipeText, encode_sentences
from trainer.data.recipe1m import iter_recipes
from trainer.features.categories import ImageSet, load_category_classifier, load_images, predict
from trainer.features.config import resolve_config
from trainer.features.pipeline import as_text, build_features
from trainer.features.skip_instructions import load_sentence_encoder
from trainer.features.store import FeatureStore, explain_changes
from trainer.features.tagger import load_tagger


@pytest.fixture(scope="module")
def store(tiny_features) -> FeatureStore:
    return FeatureStore.load(tiny_features)


@pytest.fixture(scope="module")
def recipes(tiny_data) -> list:
    return list(iter_recipes(tiny_data))


def test_store_covers_every_recipe_and_image(store, recipes):
    assert store.recipe_ids == [r.id for r in recipes]
    n, dim = store.term_features.shape
    assert n == len(recipes) and dim == store.config["word_dim"] == store.word_vectors.shape[1]
    assert store.word_vectors.shape[0] == len(store.vocab) and not store.word_vectors[0].any()
    assert store.category_vectors.shape == (len(store.category_names), dim) and not store.category_vectors[0].any()
    assert store.category_names[0] == "background"
    assert set(store.image_category) == {i for r in recipes for i in r.image_ids}
    assert all(0 <= c < len(store.category_names) for c in store.image_category.values())
    r = recipes[3]
    assert store.sentence_vectors(store.index_of(r.id)).shape == (min(len(r.instructions), 20), store.sentence_dim)
    assert store.class_of[r.id] == r.class_id
    assert store.image_size == 64 and store.config["backbone"] == "resnet18"
    with pytest.raises(DataError, match="not in this FEATURES_DIR"):
        store.index_of("no-such-recipe")


def test_manifest_hashes_every_file(tiny_features, store):
    files = store.manifest["files"]
    assert {"vocab.json", "word2vec.npy", "tagger.pt", "skip_instructions.pt", "category_classifier.pt"} <= set(files)
    for name in ("term_features.npy", "idf.npy", "lexicon.json"):
        assert files[name] == sha256_file(tiny_features / name)
    assert store.manifest["schema"] == "seje-features/1" and store.manifest["libraries"]["gensim"]


def test_quality_bars_on_tiny(store):
    m = store.manifest["metrics"]
    assert m["tagger"]["tagger"]["f1"] > m["tagger"]["dictionary"]["f1"]
    assert m["term_features"]["recipes_without_key_terms"] == 0
    assert m["lexicon"]["actions"] > 5 and m["lexicon"]["utensils"] > 3
    assert m["rankers"]["pairs"]["tfidf/textrank"]["top1_differs"] > 0


def test_sdk_reproduces_term_features_with_onnx_tagger(tiny_features, store, recipes, tmp_path):
    tagger = load_tagger(tiny_features)
    ids = torch.tensor([[5, 6, 7], [8, 9, 0]])
    lengths = torch.tensor([3, 2])
    path = tmp_path / "tagger.onnx"
    torch.onnx.export(tagger, (ids, lengths), str(path), input_names=["tokens", "lengths"], output_names=["logits"],
                      dynamic_axes={"tokens": {0: "batch", 1: "length"}, "lengths": {0: "batch"}}, dynamo=False)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    onnx_fn = lambda t, n: sess.run(None, {"tokens": t, "lengths": n})[0]  # noqa: E731
    tables = TermTables.load(tiny_features)  # the same files a bundle's tables/ holds
    picked = recipes[:40]
    got = term_features([as_text(r) for r in picked], tables, onnx_fn, store.config["ranker"],
                        title_terms=store.config["title_terms"])
    want = store.term_features[[store.index_of(r.id) for r in picked]]
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_sentence_encoder_reproduces_stored_vectors(tiny_features, store, recipes):
    encoder = load_sentence_encoder(tiny_features)
    r = recipes[5]
    tokens, lengths = encode_sentences([r.instructions], store.vocab, store.config["max_sentences"], store.config["max_tokens"])
    with torch.no_grad():
        got = encoder(torch.from_numpy(tokens[0]), torch.from_numpy(lengths[0])).numpy()
    np.testing.assert_allclose(got, store.sentence_vectors(store.index_of(r.id)), atol=1e-5)


def test_category_classifier_reproduces_image_categories(tiny_features, store, recipes):
    """Val/test photos carry the saved classifier's top-1; training photos get out-of-fold predictions."""
    model = load_category_classifier(tiny_features)
    assert not any(p.requires_grad for p in model.parameters())
    held_out = [r for r in recipes if r.partition != "train"][:10]
    items = [(i, p, 0) for r in held_out for i, p in zip(r.image_ids, r.image_paths)]
    images = load_images(items, store.image_size, "check")
    logits = predict(model, images)
    assert logits.argmax(1).tolist() == [store.image_category[i] for i in images.ids]
    # The stored logits (the soft category feature's input) are these logits, and out of fold for
    # training photos: their argmax is the stored prediction of every image.
    np.testing.assert_allclose(store.category_logits(images.ids), logits.numpy(), atol=1e-4)
    every = sorted(store.image_category)
    assert store.category_logits(every).argmax(1).tolist() == [store.image_category[i] for i in every]


def test_rerun_reuses_and_changes_are_explained(tiny_data, tiny_features, store, capsys):
    before = os.stat(tiny_features / "term_features.npy").st_mtime_ns
    assert build_features(tiny_data, tiny_features, preset="tiny") == tiny_features
    assert "reusing" in capsys.readouterr().out
    assert os.stat(tiny_features / "term_features.npy").st_mtime_ns == before
    changed = resolve_config("tiny", {"ranker": "textrank"}).to_dict()
    fp = dict(store.manifest["data_fingerprint"], **{"layer1.json": "0" * 64})
    assert explain_changes(store.manifest, changed, fp) == ["config ranker: 'tfidf' -> 'textrank'", "input layer1.json changed"]


def test_store_refuses_foreign_folders(tmp_path, tiny_features):
    with pytest.raises(DataError, match="no manifest.json"):
        FeatureStore.load(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"schema": "seje-features/0"}))
    with pytest.raises(DataError, match="schema 'seje-features/0'"):
        FeatureStore.load(tmp_path)


def test_cli_help_and_clean_errors(tiny_data, tmp_path):
    from trainer.cli import main

    runner = CliRunner()
    out = runner.invoke(main, ["features", "--help"]).output
    for flag in ("--preset", "--config", "--ranker", "--bert-model", "--backbone", "--backbone-weights", "--w2v"):
        assert flag in out
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("word_dimm: 3\n")
    res = runner.invoke(main, ["features", "--data", str(tiny_data), "--out", str(tmp_path / "f"), "--preset", "tiny", "--config", str(cfg)])
    assert res.exit_code != 0 and "unknown feature config keys ['word_dimm']" in res.output
    assert not (tmp_path / "f").exists()
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("keep me")
    res = runner.invoke(main, ["features", "--data", str(tiny_data), "--out", str(tmp_path / "precious"), "--preset", "tiny"])
    assert res.exit_code != 0 and "is not a FEATURES_DIR" in res.output
    assert (tmp_path / "precious" / "notes.txt").read_text() == "keep me"
