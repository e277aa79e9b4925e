"""FastText subword vectors in numpy: a word outside the vocabulary gets the mean of its
character n-gram rows, exactly as gensim's FastTextKeyedVectors.get_vector computes it.

The n-grams and their hash follow gensim 4's compute_ngrams_bytes and ft_hash_bytes (themselves
ports of Facebook fastText's dictionary.cc): the word is wrapped in '<' and '>', n-grams of
min_n..max_n characters are taken on UTF-8 character boundaries, and each n-gram's bytes are
hashed with 32-bit FNV-1a where every byte is first sign-extended (fastText reads them as `char`).
The bucket is hash % buckets. No gensim here: the bundle carries the table (subwords.npy) and
its settings (subwords.json).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seje_sdk.errors import BundleError

FNV_OFFSET = 2166136261
FNV_PRIME = 16777619
_CONTINUATION_MASK, _CONTINUATION = 0xC0, 0x80  # UTF-8 bytes 10xxxxxx continue a character


def ngram_bytes(word: str, min_n: int, max_n: int) -> list[bytes]:
    """The character n-grams of '<word>' as UTF-8 bytes, in gensim's order."""
    data = f"<{word}>".encode("utf-8")
    out = []
    for i in range(len(data)):
        if data[i] & _CONTINUATION_MASK == _CONTINUATION:
            continue
        j, n = i, 1
        while j < len(data) and n <= max_n:
            j += 1
            while j < len(data) and data[j] & _CONTINUATION_MASK == _CONTINUATION:
                j += 1
            if n >= min_n and not (n == 1 and (i == 0 or j == len(data))):
                out.append(data[i:j])
            n += 1
    return out


def fasttext_hash(data: bytes) -> int:
    """32-bit FNV-1a over sign-extended bytes (fastText's and gensim's ngram hash)."""
    h = FNV_OFFSET
    for b in data:
        h = (h ^ ((b - 256) & 0xFFFFFFFF if b >= 128 else b)) & 0xFFFFFFFF
        h = (h * FNV_PRIME) & 0xFFFFFFFF
    return h


@dataclass(frozen=True)
class SubwordTable:
    """The n-gram bucket matrix (buckets, dim) and its n-gram range."""

    vectors: np.ndarray
    min_n: int
    max_n: int

    @property
    def buckets(self) -> int:
        return int(self.vectors.shape[0])

    def buckets_of(self, word: str) -> list[int]:
        return [fasttext_hash(g) % self.buckets for g in ngram_bytes(word, self.min_n, self.max_n)]

    def vector(self, word: str) -> np.ndarray:
        """Mean of the word's n-gram rows; zeros when the word has no n-gram (gensim's rule)."""
        rows = self.buckets_of(word)
        if not rows:
            return np.zeros(self.vectors.shape[1], np.float32)
        return self.vectors[rows].astype(np.float32).sum(axis=0) / np.float32(len(rows))

    @classmethod
    def load(cls, folder: str | Path) -> "SubwordTable | None":
        """subwords.npy + subwords.json from `folder`, or None when the folder has no subword table."""
        folder = Path(folder)
        if not (folder / "subwords.json").is_file():
            return None
        try:
            meta = json.loads((folder / "subwords.json").read_text(encoding="utf-8"))
            vectors = np.load(folder / "subwords.npy", mmap_mode="r")
            table = cls(vectors, int(meta["min_n"]), int(meta["max_n"]))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise BundleError(f"{folder}: unreadable subword table (subwords.json/subwords.npy): {e}") from e
        if vectors.ndim != 2 or vectors.shape[0] != int(meta.get("buckets", -1)):
            raise BundleError(f"{folder}: subwords.npy is {vectors.shape}, subwords.json says {meta.get('buckets')} buckets")
        return table
