"""Benchmark inputs: image pixel batches, recipe-encoder batches built by the SDK's own preprocessing
(from real recipes, or synthetic ones with Recipe1M-like lengths), and JPEG files for the end-to-end path.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

# Recipe1M instruction statistics (Salvador et al. 2017): ~10 sentences of ~12 tokens on average.
MEAN_SENTENCES, MEAN_TOKENS = 10.0, 12.0


@dataclass
class RecipeBatch:
    """Recipe-encoder inputs exactly as the ONNX graph takes them."""

    sentence_tokens: np.ndarray  # int64 (B, S, L)
    sentence_lengths: np.ndarray  # int64 (B, S)
    term_feature: np.ndarray  # float32 (B, 300)

    def feeds(self) -> dict[str, np.ndarray]:
        return {"sentence_tokens": self.sentence_tokens, "sentence_lengths": self.sentence_lengths, "term_feature": self.term_feature}

    def __len__(self) -> int:
        return len(self.sentence_tokens)

    def subset(self, rows: np.ndarray) -> "RecipeBatch":
        """Rows `rows` (may repeat), cropped to the padding that subset needs (as the SDK would pad it)."""
        lengths = self.sentence_lengths[rows]
        s = max(1, int((lengths > 0).sum(1).max()))
        l = max(1, int(lengths.max()))
        return RecipeBatch(self.sentence_tokens[rows, :s, :l].copy(), lengths[:, :s].copy(), self.term_feature[rows].copy())

    def tile(self, batch_size: int) -> "RecipeBatch":
        """`batch_size` recipes, cycling through these ones."""
        return self.subset(np.arange(batch_size) % len(self))


def image_batch(size: int, batch_size: int, seed: int = 0) -> np.ndarray:
    """Raw 0..255 float32 pixels (B, 3, size, size): CNN cost does not depend on content."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(batch_size, 3, size, size)).astype(np.float32)


def read_recipes(data_dir: str | os.PathLike, split: str = "test", limit: int = 512) -> tuple[list[dict], list[Path]]:
    """Up to `limit` layer1-style recipe dicts of a split and the first image path of each."""
    from trainer.data.recipe1m import read_split

    records = read_split(data_dir, split, require_images=True)[:limit]
    recipes = [{"id": r.id, "title": r.title, "ingredients": list(r.ingredients), "instructions": list(r.instructions)}
               for r in records]
    return recipes, [Path(r.image_paths[0]) for r in records]


def synthetic_recipes(vocab_tokens: Sequence[str], n: int, seed: int = 0) -> list[dict]:
    """Recipe dicts built from vocabulary words with Recipe1M-like lengths (when no data folder is given)."""
    rng = np.random.default_rng(seed)
    words = [t for t in vocab_tokens[3:] if t.isalpha()] or list(vocab_tokens[3:])
    pick = lambda m: " ".join(words[i] for i in rng.integers(0, len(words), m))  # noqa: E731
    return [
        {"id": f"synthetic-{i}", "title": pick(3), "ingredients": [pick(2) for _ in range(rng.integers(3, 10))],
         "instructions": [pick(max(2, rng.poisson(MEAN_TOKENS))) + "." for _ in range(max(1, rng.poisson(MEAN_SENTENCES)))]}
        for i in range(n)
    ]


def vocab_tokens(bundle: Any) -> list[str]:
    """The bundle's vocabulary in row order."""
    mapping = json.loads((bundle.tables_dir / "vocab.json").read_text(encoding="utf-8"))
    return [t for t, _ in sorted(mapping.items(), key=lambda kv: kv[1])]


def sdk_recipe_batch(retriever: Any, recipes: Sequence[Any]) -> RecipeBatch:
    """Recipe-encoder feeds for real recipes, built by the SDK's own preprocessing (tagger, terms, padding)."""
    from seje_sdk.recipe import parse_recipes, recipe_inputs

    limits, tagger = retriever.bundle.text_limits, retriever.sessions["tagger"]
    feeds = recipe_inputs(parse_recipes(recipes), retriever.tables, limits.max_sentences, limits.max_tokens,
                          lambda t, l: tagger.run({"tokens": t, "lengths": l})["logits"], ranker=retriever.bundle.ranker,
                          bert_fn=retriever.bert, title_terms=retriever.bundle.title_terms,
                          slots=retriever._embedder.slots)
    if "sentence_tokens" not in feeds:  # a MiniLM bundle whose recipe graph takes the sentence graph's vectors
        from seje_sdk.errors import InputError

        raise InputError(f"bundle {retriever.bundle.path}: its recipe graph takes MiniLM sentence vectors, not word "
                         "pieces; time it end to end with `python -m benchmarks.recipe_cost`")
    return RecipeBatch(feeds["sentence_tokens"], feeds["sentence_lengths"], feeds["term_feature"])


def write_jpegs(folder: str | os.PathLike, n: int, width: int = 512, height: int = 384, seed: int = 0) -> list[Path]:
    """`n` photo-like JPEGs (smooth colour fields plus grain, quality 90) so decode cost is realistic."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    paths = []
    for i in range(n):
        fx, fy, phase = rng.uniform(0.005, 0.03, 2).tolist() + [rng.uniform(0, 6.28)]
        base = np.stack([np.sin(xx * fx + phase + c) * np.cos(yy * fy - c) for c in (0.0, 2.1, 4.2)], axis=-1)
        pixels = 127 + 90 * base + rng.normal(0, 12, base.shape)
        path = folder / f"photo_{i:04d}.jpg"
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, quality=90)
        paths.append(path)
    return paths
