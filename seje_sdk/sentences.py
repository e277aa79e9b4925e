"""MiniLM sentence slots: a recipe's texts as word-piece ids for a recipe graph whose sentence encoder is MiniLM.

Features built with `sentence_encoder: minilm` replace skip-instructions with the pretrained
all-MiniLM-L6-v2: the recipe graph runs it on every slot of `sentence_tokens` (B,S,L) and
mean-pools the slot's first `sentence_lengths` word pieces. With `fields`, slots 0 and 1 are the
title and the joined ingredient lines; the instruction sentences follow. Training
(trainer.features.minilm) and the SDK both build the slots here from the same tokenizer.json,
so the ids, and hence the vectors, are the same.

Example:
    >>> tok = load_tokenizer("tables/sentences/tokenizer.json", 64)          # doctest: +SKIP
    >>> ids, lengths = slot_inputs([recipe], tok, max_sentences=20, fields=2)  # doctest: +SKIP
    >>> ids.shape, lengths[0, :3]                                            # doctest: +SKIP
    ((1, 9, 23), array([ 7, 23, 12]))
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from seje_sdk.bert import load_tokenizer
from seje_sdk.errors import BundleError
from seje_sdk.text import RecipeText, split_sentences

FIELDS = 2  # title, ingredient lines
INGREDIENT_JOIN = "; "


def slot_texts(recipe: RecipeText, max_sentences: int, fields: int) -> list[str]:
    """One recipe's slot texts: [title, ingredient lines joined] when fields, then its first max_sentences sentences."""
    head = [recipe.title, INGREDIENT_JOIN.join(line.strip() for line in recipe.ingredients)][:fields]
    return head + split_sentences(list(recipe.instructions))[:max_sentences]


def pack_slots(texts: Sequence[Sequence[str]], tokenizer: Any, min_slots: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Word-piece ids (B,S,L) int64 and lengths (B,S) int64 of each recipe's slot texts; padding is 0 / length 0."""
    flat = [t for slots in texts for t in slots]
    encodings = tokenizer.encode_batch(flat) if flat else []
    n_s = max([len(slots) for slots in texts] + [min_slots])
    n_t = max([sum(e.attention_mask) for e in encodings] + [1])
    ids = np.zeros((len(texts), n_s, n_t), dtype=np.int64)
    lengths = np.zeros((len(texts), n_s), dtype=np.int64)
    k = 0
    for b, slots in enumerate(texts):
        for s in range(len(slots)):
            n = sum(encodings[k].attention_mask)
            ids[b, s, :n] = encodings[k].ids[:n]
            lengths[b, s] = n
            k += 1
    return ids, lengths


@dataclass(frozen=True)
class SlotEncoder:
    """The text side of a MiniLM recipe graph: tokenizer + how many field slots lead and how many sentences follow."""

    tokenizer: Any
    fields: int
    max_sentences: int  # instruction sentences per recipe (slots = fields + max_sentences)

    def __call__(self, recipes: Sequence[RecipeText]) -> tuple[np.ndarray, np.ndarray]:
        """sentence_tokens (B,S,L), sentence_lengths (B,S) of a batch."""
        texts = [slot_texts(r, self.max_sentences, self.fields) for r in recipes]
        return pack_slots(texts, self.tokenizer, min_slots=self.fields + 1)

    @classmethod
    def from_bundle(cls, bundle: Any) -> "SlotEncoder | None":
        """The bundle's MiniLM slot encoder, or None for a skip-instructions bundle."""
        entry = bundle.manifest["text"].get("sentence_encoder") or {"name": "skip"}
        if entry.get("name", "skip") == "skip":
            return None
        if entry.get("name") != "minilm" or "tokenizer" not in entry:
            raise BundleError(f"bundle {bundle.path}: unknown text.sentence_encoder {entry!r}; re-export it")
        fields = int(entry.get("fields", 0))
        tokenizer = load_tokenizer(bundle.file(entry["tokenizer"], "sentence tokenizer"), int(entry["max_tokens"]))
        return cls(tokenizer, fields, bundle.text_limits.max_sentences - fields)
