"""MiniLM bundles: MiniLM as its own graph, and a recipe graph that takes sentence vectors.

A recipe graph with MiniLM inside runs the transformer on every slot of a padded (B,S,L) input,
empty slots included, each padded to the batch's longest text: 55-65x the cost of the
skip-instruction graph. Split in two, the SDK runs `sentence_encoder.onnx` (input_ids,
attention_mask (N,T) -> (N,384)) on the batch's real texts only, in length buckets
(seje_sdk.sentences), and `recipe_encoder.onnx` takes (sentence_vectors (B,S,384), num_sentences
(B,), term_feature) as training's precomputed-vector path does. Skip-instruction bundles keep
their one graph (export.onnx.GRAPHS). Every MiniLM bundle also carries the tokenizer and the
manifest's text.sentence_encoder entry written here.

Example:
    >>> modules = split_modules(run.model.recipe_encoder)                  # doctest: +SKIP
    >>> sorted(modules)                                                    # doctest: +SKIP
    ['recipe', 'sentence']
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

import numpy as np

from export.onnx import GRAPHS, SPLIT_GRAPHS, GraphSpec
from seje_sdk.io import sha256_file
from seje_sdk.sentences import BUCKET_TEXTS, SPLIT_GRAPH

Run = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


def is_split(config: dict[str, Any]) -> bool:
    """Whether features with this config export MiniLM as its own graph (every MiniLM run does)."""
    return config.get("sentence_encoder", "skip") == "minilm"


def graph_specs(split: bool) -> tuple[GraphSpec, ...]:
    """The graphs of a bundle: image, recipe, tagger (+ the sentence graph; the recipe graph then takes vectors)."""
    return SPLIT_GRAPHS if split else GRAPHS


def split_modules(recipe_encoder: Any) -> dict[str, Any]:
    """{"sentence": MiniLM (input_ids, attention_mask) -> vectors, "recipe": the encoder on vectors}, sharing weights."""
    import torch
    from torch import nn

    class SentenceGraph(nn.Module):
        def __init__(self, minilm: nn.Module):
            super().__init__()
            self.minilm = minilm

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            # Right-padded word pieces: the mask's sum is each text's length, which MiniLMSentences pools over.
            return self.minilm(input_ids, attention_mask.sum(1))

    # A shallow copy whose forward is the vector path: its submodules keep their names
    # (/instructions, /head, ...), which the fp16 and int8 converters use to keep the whitened path fp32.
    on_vectors = copy.copy(recipe_encoder)
    on_vectors.forward = recipe_encoder.forward_from_vectors
    return {"sentence": SentenceGraph(recipe_encoder.sentence_encoder).eval(), "recipe": on_vectors}


def example_inputs(feeds: dict[str, np.ndarray], sentence_run: Run) -> dict[str, list[np.ndarray]]:
    """Tracing examples of the two graphs from a held-out recipe batch (word-piece slots) and a MiniLM runner."""
    from seje_sdk.sentences import slot_ids

    ids = slot_ids(feeds["sentence_tokens"], feeds["sentence_lengths"])
    texts = [t for row in ids for t in row]
    longest = max(len(t) for t in texts)
    input_ids = np.zeros((len(texts), longest), np.int64)
    mask = np.zeros_like(input_ids)
    for i, t in enumerate(texts):
        input_ids[i, :len(t)], mask[i, :len(t)] = t, 1
    vectors = split_feeds(feeds, sentence_run)
    return {"sentence": [input_ids, mask],
            "recipe": [vectors["sentence_vectors"], vectors["num_sentences"], feeds["term_feature"]]}


def split_feeds(feeds: dict[str, np.ndarray], sentence_run: Run, max_texts: int = BUCKET_TEXTS) -> dict[str, np.ndarray]:
    """Recipe-graph feeds (sentence vectors, counts, term feature) from word-piece slot feeds, MiniLM run bucketed."""
    from seje_sdk.sentences import slot_ids, slot_vectors

    vectors, counts = slot_vectors(slot_ids(feeds["sentence_tokens"], feeds["sentence_lengths"]), sentence_run,
                                   max_texts=max_texts)
    return {"sentence_vectors": vectors, "num_sentences": counts, "term_feature": feeds["term_feature"]}


def split_recipe_runner(run: Callable[[str, dict[str, np.ndarray]], dict[str, np.ndarray]], max_texts: int = BUCKET_TEXTS
                        ) -> Callable[[str, dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """A parity runner over a split bundle's graphs that takes word-piece recipe feeds as the PyTorch reference does:
    the sentence graph on the batch's length buckets (the SDK's seje_sdk.sentences code), then the recipe graph."""

    def composite(role: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if role == "recipe" and "sentence_tokens" in feeds:
            feeds = split_feeds(feeds, lambda f: run("sentence", f), max_texts)
        return run(role, feeds)

    return composite


def torch_sentence_run(module: Any) -> Run:
    """A MiniLM runner for split_feeds from the PyTorch sentence graph (tracing examples, tests)."""
    import torch

    def run(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            return {"embedding": module(*(torch.from_numpy(feeds[k]) for k in ("input_ids", "attention_mask"))).numpy()}

    return run


SENTENCE_TOKENIZER = "tables/sentences/tokenizer.json"


def copy_sentence_tokenizer(config: dict[str, Any], out: Path) -> dict[str, str]:
    """For MiniLM sentence features: the tokenizer.json training used, as tables/sentences/tokenizer.json; {path: sha256}."""
    if config.get("sentence_encoder", "skip") != "minilm":
        return {}
    import shutil

    from trainer.features.minilm import model_folder

    dst = out / SENTENCE_TOKENIZER
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model_folder(config) / "tokenizer.json", dst)
    return {SENTENCE_TOKENIZER: sha256_file(dst)}


def sentence_encoder_entry(store: Any, limits: dict[str, int], split: bool) -> dict[str, Any]:
    """The manifest's text.sentence_encoder: skip-instructions (vocabulary ids), or MiniLM slots and their tokenizer;
    `graph` names the variants' role of MiniLM's own graph (absent: MiniLM inside the recipe graph)."""
    if store.config.get("sentence_encoder", "skip") != "minilm":
        return {"name": "skip"}
    return {"name": "minilm", "fields": store.sentence_fields, "tokenizer": SENTENCE_TOKENIZER,
            "max_tokens": limits["max_tokens"], "dim": store.sentence_dim, **({"graph": SPLIT_GRAPH} if split else {})}
