"""Triton batching of text requests: padding to the bundle's limits makes every request one shape and changes nothing."""
from __future__ import annotations

import json

import numpy as np
import pytest

from export.triton import pad_to_limits


def _session(path):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_padded_recipe_and_tagger_requests_give_the_same_outputs(tiny_bundle):
    text = json.loads((tiny_bundle / "manifest.json").read_text())["text"]
    rng = np.random.default_rng(0)
    lengths = np.array([[3, 2], [1, 0], [2, 1]], np.int64)  # the SDK's padding: batch maxima, 0 = no sentence
    tokens = (rng.integers(4, 30, (3, 2, 3)) * (np.arange(3)[None, None] < lengths[..., None])).astype(np.int64)
    feeds = {"sentence_tokens": tokens, "sentence_lengths": lengths,
             "term_feature": rng.standard_normal((3, text["word_dim"])).astype(np.float32)}
    padded = pad_to_limits("recipe", feeds, text["max_sentences"], text["max_tokens"])
    assert padded["sentence_tokens"].shape == (3, text["max_sentences"], text["max_tokens"])
    recipe = _session(tiny_bundle / "recipe_encoder.onnx")
    (ref,), (got,) = recipe.run(["embedding"], feeds), recipe.run(["embedding"], padded)
    np.testing.assert_allclose(got, ref, atol=1e-5)

    tag_tokens, tag_lengths = np.array([[5, 6, 7], [8, 0, 0]], np.int64), np.array([3, 1], np.int64)
    tag = pad_to_limits("tagger", {"tokens": tag_tokens, "lengths": tag_lengths}, 0, 0, text["max_ingredient_tokens"])
    tagger = _session(tiny_bundle / "tagger.onnx")
    (ref,), (got,) = tagger.run(["logits"], {"tokens": tag_tokens, "lengths": tag_lengths}), tagger.run(["logits"], tag)
    assert got.shape[1] == text["max_ingredient_tokens"]
    for row, n in enumerate(tag_lengths):
        np.testing.assert_allclose(got[row, :n], ref[row, :n], atol=1e-5)


def test_padded_text_requests_give_the_same_embeddings(tiny_bundle):
    from seje_sdk.text import Vocab
    from seje_sdk.text_query import encode_texts

    entry = json.loads((tiny_bundle / "manifest.json").read_text())["text_encoder"]
    vocab = Vocab.load(tiny_bundle / "tables" / "vocab.json")
    words = [w for w in vocab.tokens[3:] if w.isalpha()][:5]
    ids = encode_texts([" ".join(words[:3]), words[4]], vocab)  # two lengths: the SDK pads to the longer
    padded = pad_to_limits("text", {"token_ids": ids}, 0, entry["max_tokens"])
    assert padded["token_ids"].shape == (2, entry["max_tokens"])
    text = _session(tiny_bundle / "text_encoder.onnx")
    (ref,), (got,) = text.run(["embedding"], {"token_ids": ids}), text.run(["embedding"], padded)
    np.testing.assert_allclose(got, ref, atol=1e-5)
    with pytest.raises(ValueError, match="exceed max_tokens 1"):
        pad_to_limits("text", {"token_ids": ids}, 0, 1)


def test_pad_to_limits_refuses_feeds_past_the_limits():
    feeds = {"sentence_tokens": np.zeros((1, 3, 4), np.int64), "sentence_lengths": np.zeros((1, 3), np.int64),
             "term_feature": np.zeros((1, 8), np.float32)}
    with pytest.raises(ValueError, match=r"exceed the limits \(2, 4\)"):
        pad_to_limits("recipe", feeds, 2, 4)
    with pytest.raises(ValueError, match="role must be"):
        pad_to_limits("image", feeds, 2, 4)
