"""Text normalisation, tokenisation and vocabulary: the one copy shared by training and the SDK.

The SDK must turn a new recipe into exactly the token ids training saw, so these functions
are pure Python + numpy and the trainer imports them from here.
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from seje_sdk.errors import InputError

PAD, UNK, EOS = "<pad>", "<unk>", "<eos>"
PAD_ID, UNK_ID, EOS_ID = 0, 1, 2
SPECIALS = (PAD, UNK, EOS)

_FRACTIONS = {"½": " 1/2", "⅓": " 1/3", "⅔": " 2/3", "¼": " 1/4", "¾": " 3/4", "⅛": " 1/8"}
_TOKEN_RE = re.compile(r"[a-z]+(?:'[a-z]+)?|\d+(?:[./]\d+)?")
_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+|\n+")


def normalize_text(text: str) -> str:
    """Lower-case, NFKC-fold and expand unicode fractions ("½ Cup" -> " 1/2 cup")."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InputError(f"text is not valid UTF-8 ({e}); decode it before passing it in") from e
    if not isinstance(text, str):
        raise InputError(f"expected text, got {type(text).__name__}")
    for k, v in _FRACTIONS.items():
        text = text.replace(k, v)
    return unicodedata.normalize("NFKC", text).lower()


def tokenize(text: str) -> list[str]:
    """Words and numbers of `text`, punctuation dropped ("2 cups Basil, chopped" -> 2 cups basil chopped)."""
    return _TOKEN_RE.findall(normalize_text(text))


def clean_ingredient_name(name: str) -> str:
    """Canonical entity token of an ingredient name: tokens joined with '_' ("Red Wine" -> "red_wine")."""
    return "_".join(t for t in tokenize(name) if not t[0].isdigit())


def split_sentences(instructions: str | Sequence[str]) -> list[str]:
    """Instruction sentences: one per Recipe1M instruction item; a plain string is split on . ! ? and newlines."""
    if isinstance(instructions, str):
        parts = _SENTENCE_RE.split(instructions)
    else:
        parts = list(instructions)
    return [p.strip() for p in parts if p and p.strip()]


@dataclass(frozen=True)
class RecipeText:
    """A recipe as plain strings: what the recipe encoder consumes."""

    title: str = ""
    ingredients: tuple[str, ...] = ()
    instructions: tuple[str, ...] = ()



@dataclass
class Vocab:
    """Token <-> row mapping, rows aligned with the Word2vec matrix; <pad>=0, <unk>=1, <eos>=2."""

    tokens: list[str]
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if tuple(self.tokens[:3]) != SPECIALS:
            raise ValueError(f"vocabulary must start with {SPECIALS}, got {self.tokens[:3]}")
        self.index = {t: i for i, t in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self.index

    def id(self, token: str) -> int:
        return self.index.get(token, UNK_ID)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        return [self.index.get(t, UNK_ID) for t in tokens]

    @classmethod
    def build(cls, tokens: Iterable[str]) -> "Vocab":
        """Specials first, then `tokens` in the given order (duplicates dropped)."""
        seen = dict.fromkeys(SPECIALS)
        seen.update(dict.fromkeys(t for t in tokens if t not in seen))
        return cls(list(seen))

    @classmethod
    def load(cls, path: str | Path) -> "Vocab":
        """Read vocab.json ({token: row})."""
        mapping = json.loads(Path(path).read_text(encoding="utf-8"))
        tokens = [""] * len(mapping)
        for tok, row in mapping.items():
            tokens[row] = tok
        return cls(tokens)

    def to_dict(self) -> dict[str, int]:
        return dict(self.index)


def encode_sentence(sentence: str, vocab: Vocab, max_tokens: int) -> list[int]:
    """Token ids of one sentence, truncated to max_tokens - 1, then <eos>."""
    return vocab.encode(tokenize(sentence))[: max_tokens - 1] + [EOS_ID]


def encode_sentences(
    recipes: Sequence[Sequence[str]], vocab: Vocab, max_sentences: int = 20, max_tokens: int = 20
) -> tuple[np.ndarray, np.ndarray]:
    """Pad a batch of sentence lists to ids (B, S, L) int64 and lengths (B, S) int64.

    S and L are the batch maxima (capped at max_sentences / max_tokens); padding is 0 and a
    padded sentence has length 0, which the encoders mask out.
    """
    encoded = [[encode_sentence(s, vocab, max_tokens) for s in sents[:max_sentences]] for sents in recipes]
    n_s = max([len(r) for r in encoded] + [1])
    n_t = max([len(s) for r in encoded for s in r] + [1])
    ids = np.zeros((len(encoded), n_s, n_t), dtype=np.int64)
    lengths = np.zeros((len(encoded), n_s), dtype=np.int64)
    for b, rec in enumerate(encoded):
        for s, sent in enumerate(rec):
            ids[b, s, : len(sent)] = sent
            lengths[b, s] = len(sent)
    return ids, lengths
