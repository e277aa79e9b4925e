"""Word2vec (gensim skip-gram) on the training text, multi-word ingredient entities joined with '_'.

Produces the gensim model and the plain tables the SDK reads: vocab.json (token -> row) and a
float32 (V, dim) matrix with <pad> = 0, <unk> = mean vector, <eos> = 0.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from seje_sdk.errors import InputError
from seje_sdk.io import save_npy, write_json
from seje_sdk.terms import join_phrases
from seje_sdk.text import SPECIALS, UNK_ID, RecipeText, Vocab, tokenize

from trainer.features.config import FeatureConfig


def build_corpus(recipes: Iterable[RecipeText], phrases: dict[tuple[str, ...], str]) -> list[list[str]]:
    """One token list per title, ingredient line and instruction, entity phrases joined.

    An instruction whose rewrite joined a phrase is also kept raw: the sentence encoder reads
    raw tokens (as the SDK's encode_sentences does), so "red" and "wine" need vectors too.
    """
    corpus: list[list[str]] = []
    for r in recipes:
        corpus.append(join_phrases(tokenize(r.title), phrases))
        corpus.extend(join_phrases(tokenize(line), phrases) for line in r.ingredients)
        for sentence in r.instructions:
            raw = tokenize(sentence)
            joined = join_phrases(raw, phrases)
            corpus.append(joined)
            if joined != raw:
                corpus.append(raw)
    return [s for s in corpus if s]


def train_word2vec(corpus: Sequence[list[str]], cfg: FeatureConfig):
    """gensim skip-gram (sg=1), deterministic: one worker and a fixed seed.

    word_vectors "fasttext": gensim FastText on the same corpus with character n-grams
    fasttext_min_n..fasttext_max_n hashed into fasttext_buckets rows, so unseen words get a vector.
    """
    from gensim.models import FastText, Word2Vec

    name = cfg.word_vectors
    if not corpus:
        raise InputError(f"{name}: the training partition has no text; check the dataset's layer1.json")
    logging.getLogger("gensim").setLevel(logging.WARNING)
    common = dict(sentences=list(corpus), vector_size=cfg.word_dim, window=cfg.w2v_window, min_count=cfg.w2v_min_count,
                  sg=1, workers=1, seed=cfg.seed, epochs=cfg.w2v_epochs)
    if name == "fasttext":
        model = FastText(**common, min_n=cfg.fasttext_min_n, max_n=cfg.fasttext_max_n, bucket=cfg.fasttext_buckets)
    else:
        model = Word2Vec(**common)
    if len(model.wv) == 0:
        raise InputError(f"{name}: no token occurs {cfg.w2v_min_count}+ times; lower w2v_min_count")
    return model


def save_subwords(kv, folder: Path) -> dict[str, int]:
    """The n-gram bucket table and its settings as plain files (subwords.npy, subwords.json) for the SDK."""
    meta = {"min_n": int(kv.min_n), "max_n": int(kv.max_n), "buckets": int(kv.bucket), "hash": "fasttext-fnv1a-signed-bytes"}
    save_npy(folder / "subwords.npy", np.asarray(kv.vectors_ngrams, dtype=np.float32))
    write_json(folder / "subwords.json", meta)
    return meta


def load_word2vec_file(path: str | Path):
    """KeyedVectors from an original word2vec C file (binary, like Recipe1M's vocab.bin, or text).

    gensim's own .model/.kv files are Python pickles, which run code when read, so they are
    refused with the one-line conversion to the C format (run where the file is trusted).
    """
    from gensim.models import KeyedVectors

    path = Path(path)
    if not path.is_file():
        raise InputError(f"--w2v {path}: no such file")
    with open(path, "rb") as f:
        if f.read(1) == b"\x80":  # every pickle of protocol 2 or later starts with PROTO
            raise InputError(
                f"--w2v {path}: a gensim model/KeyedVectors file is a Python pickle, which seje does not read "
                "(it can run code); if you trust it, convert it once with: python -c \"from gensim.models import "
                f"KeyedVectors as K; K.load('{path}').save_word2vec_format('{path}.bin', binary=True)\""
            )
    errors = []
    for binary in (True, False):
        try:
            return KeyedVectors.load_word2vec_format(str(path), binary=binary, unicode_errors="ignore")
        except Exception as e:  # try the next format; report them all if none fits
            errors.append(f"{type(e).__name__}: {e}"[:120])
    raise InputError(f"--w2v {path}: not a word2vec C file, binary or text ({'; '.join(errors)})")


def word2vec_tables(kv) -> tuple[Vocab, np.ndarray]:
    """Vocab (specials, then gensim's frequency order) and the aligned float32 matrix."""
    words = [w for w in kv.index_to_key if w not in SPECIALS]
    vocab = Vocab.build(words)
    matrix = np.zeros((len(vocab), kv.vector_size), dtype=np.float32)
    matrix[len(SPECIALS) :] = kv.vectors[[kv.key_to_index[w] for w in words]]
    matrix[UNK_ID] = matrix[len(SPECIALS) :].mean(axis=0)  # an unknown word gets the average meaning
    return vocab, matrix


def neighbours(vocab: Vocab, matrix: np.ndarray, word: str, k: int = 5) -> list[str]:
    """The k nearest tokens of `word` by cosine (empty when the word is not in the vocabulary)."""
    if word not in vocab:
        return []
    normed = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-8)
    sims = normed @ normed[vocab.id(word)]
    sims[: len(SPECIALS)] = -np.inf
    sims[vocab.id(word)] = -np.inf
    return [vocab.tokens[i] for i in np.argsort(-sims)[:k]]
