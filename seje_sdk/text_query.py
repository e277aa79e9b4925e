"""Typed text as a query: "spicy chicken curry" -> the text encoder's input, with the words the model does not know.

The text goes through the bundle's own tokeniser and vocabulary (seje_sdk.text): a word outside the
vocabulary has no vector and cannot steer the search, so it is reported back (SDK result, CLI, JSON)
rather than silently ignored; text with no known word at all is refused. A bundle with a text
encoder (text_encoder.onnx, trainer/query_encoder.py) embeds the known words' ids with it
(`TextEncoderSession`); one without embeds the text as a recipe's title through the recipe graph,
which only bundles whose model reads titles accept (docs/free-text.md measures both routes).

Example:
    >>> from seje_sdk.text import Vocab
    >>> q = text_query("Spicy chicken curry", Vocab.build(["chicken", "curry"]))
    >>> q.recipe, q.unknown_words
    ({'title': 'Spicy chicken curry'}, ['spicy'])

For a bundle with a text encoder, an unseen word spelt like a vocabulary word is read as that word
("chiken" -> "chicken", `Speller`), and the reading is reported in `substitutes` instead of the
word being dropped.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from seje_sdk.errors import InputError
from seje_sdk.recipe import text_value
from seje_sdk.text import Vocab, tokenize

MAX_TEXT_CHARS = 1000  # a typed query, not a document
MAX_QUERY_TOKENS = 48  # known words the text encoder reads; the rest of a long query is cut
# difflib ratio an unseen typed word needs to a vocabulary word to be read as it: on the embedded test
# titles with one typo each, 0.8 reads 94% of the typos as their word and 0.3% of random letter
# strings as any word (benchmarks/results/typo_queries.md)
SPELLING_CUTOFF = 0.8
Nearest = Callable[[str], "str | None"]


@dataclass(frozen=True)
class TextQuery:
    """A typed query: its text, the recipe dict embedded for it, its words and those outside the vocabulary."""

    text: str
    recipe: dict[str, Any]
    words: list[str] = field(default_factory=list)
    unknown_words: list[str] = field(default_factory=list)
    substitutes: dict[str, str] = field(default_factory=dict)  # unseen word -> the vocabulary word read for it

    @property
    def model_text(self) -> str:
        """The words as the text encoder reads them: each substitute in place of its unseen word."""
        return " ".join(self.substitutes.get(w, w) for w in self.words)


def text_query(text: Any, vocab: Vocab, where: str = "text", nearest: Nearest | None = None) -> TextQuery:
    """Check typed text and make it a title-only recipe; InputError when it is not text or no word is known.

    `nearest`: unseen word -> a vocabulary word or None (`Speller`).
    """
    text = " ".join(text_value(text, where).split())
    if not text:
        raise InputError(f"{where}: empty text; type a few words such as \"chicken curry\"")
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(f"{where}: {len(text)} characters, the limit is {MAX_TEXT_CHARS}; a few words find photos best")
    words = tokenize(text)  # tokenize normalises (lower-case, NFKC, fractions) itself
    unseen = list(dict.fromkeys(w for w in words if w not in vocab and not w[0].isdigit()))
    substitutes = {w: s for w in unseen if nearest is not None and (s := nearest(w)) is not None}
    if not any(w in vocab or w in substitutes for w in words):
        raise InputError(f"{where}: none of the words {' '.join(words) or text!r} is in the model's vocabulary; "
                         "try dish or ingredient names in English")
    return TextQuery(text, {"title": text}, words, [w for w in unseen if w not in substitutes], substitutes)


def text_queries(texts: str | Sequence[Any], vocab: Vocab, reads_titles: bool = True,
                 nearest: Nearest | None = None) -> list[TextQuery]:
    """text_query over one string or a list of them, each failure named by its position (text[2]).

    `reads_titles`: whether the bundle can embed text (a text encoder, or a recipe model that reads titles).
    """
    if not reads_titles:
        raise InputError("text: this bundle has no text encoder and its recipe model does not read titles, so "
                         "typed text cannot steer it; search with a recipe, or train one with `seje-train "
                         "text-encoder --run RUN_DIR` and export the run again")
    if isinstance(texts, (str, bytes)):
        return [text_query(texts, vocab, nearest=nearest)]
    if not isinstance(texts, (list, tuple)) or not texts:
        raise InputError(f"text: pass a string or a non-empty list of strings, got {type(texts).__name__}")
    return [text_query(t, vocab, f"text[{i}]", nearest) for i, t in enumerate(texts)]


class Speller:
    """Unseen typed word -> the vocabulary word spelt most like it ("chiken" -> "chicken"), or None if none is close."""

    def __init__(self, vocab: Vocab, cutoff: float = SPELLING_CUTOFF):
        self.words, self.cutoff = [w for w in vocab.tokens if w.isalpha() and len(w) > 2], cutoff

    def __call__(self, word: str) -> str | None:
        if not word.isalpha() or len(word) < 3:
            return None
        match = difflib.get_close_matches(word, self.words, n=1, cutoff=self.cutoff)
        return match[0] if match else None


def bundle_text_queries(texts: str | Sequence[Any], bundle: Any, vocab: Vocab) -> list[TextQuery]:
    """text_queries as a bundle reads them: its vocabulary, and spelling readings for its text encoder."""
    encoder = bundle.text_encoder is not None
    return text_queries(texts, vocab, bundle.title_terms or encoder, Speller(vocab) if encoder else None)


def word_notes(substitutes: dict[str, str], unknown: Sequence[str]) -> list[str]:
    """What a search prints about a text's words: those read as another word, and those with no effect."""
    notes = [f"read as: {', '.join(f'{w} -> {s}' for w, s in substitutes.items())}"] if substitutes else []
    if unknown:
        notes.append(f"not in the model's vocabulary (no effect on the search): {', '.join(unknown)}")
    return notes


def known_ids(text: str, vocab: Vocab) -> list[int]:
    """Vocabulary ids of the words of `text` that the model knows (numbers and unknown words left out)."""
    return [vocab.index[w] for w in tokenize(text) if w in vocab.index and not w[0].isdigit()]


def pad_token_ids(texts: Sequence[Sequence[int]], max_tokens: int = MAX_QUERY_TOKENS) -> np.ndarray:
    """(B, L) int64 ids, 0-padded to the longest text (at least 1 column), each cut at max_tokens."""
    width = max([min(len(t), max_tokens) for t in texts] + [1])
    out = np.zeros((len(texts), width), dtype=np.int64)
    for i, t in enumerate(texts):
        t = list(t)[:max_tokens]
        out[i, : len(t)] = t
    return out


def encode_texts(texts: Sequence[str], vocab: Vocab, max_tokens: int = MAX_QUERY_TOKENS) -> np.ndarray:
    """The text encoder's `token_ids` input (B, L) for typed texts."""
    return pad_token_ids([known_ids(t, vocab) for t in texts], max_tokens)


class TextEncoderSession:
    """The bundle's text_encoder.onnx on ONNX Runtime (CPU): typed texts -> (n, d) L2-normalised vectors."""

    def __init__(self, model_path: Any, vocab: Vocab, max_tokens: int = MAX_QUERY_TOKENS, threads: int = 0):
        from seje_sdk.backends.onnxruntime import OrtSession

        self.session, self.vocab, self.max_tokens = OrtSession(model_path, "cpu", threads), vocab, int(max_tokens)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        ids = encode_texts(texts, self.vocab, self.max_tokens)
        out = np.asarray(self.session.run({"token_ids": ids})["embedding"], dtype=np.float32)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
