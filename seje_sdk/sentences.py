"""MiniLM sentence slots: a recipe's texts (title, ingredient lines, instruction sentences) for a MiniLM recipe model.

Features built with `sentence_encoder: minilm` replace skip-instructions with the pretrained
all-MiniLM-L6-v2. With `fields`, slots 0 and 1 are the title and the joined ingredient lines; the
instruction sentences follow. Training (trainer.features.minilm) and the SDK both build the slots
here from the same tokenizer.json, so the ids, and hence the vectors, are the same.

Bundles hold one of two layouts (the manifest's `text.sentence_encoder.graph` says which):
- `sentence` (current): MiniLM is its own graph. `SentenceVectors` runs it on the batch's distinct
  real texts only, sorted by length and cut into buckets each padded to its own longest text,
  and feeds the recipe graph the vectors (B,S,384) and each recipe's slot count.
- absent (bundles exported before the split): MiniLM is inside the recipe graph; `SlotEncoder`
  packs every slot as word pieces into (B,S,L), padded to the batch's longest text.

Example:
    >>> encoder = SentenceVectors.from_bundle(bundle, run_sentence_graph)     # doctest: +SKIP
    >>> feeds = encoder.feeds([recipe])                                      # doctest: +SKIP
    >>> feeds["sentence_vectors"].shape, feeds["num_sentences"]              # doctest: +SKIP
    ((1, 9, 384), array([9]))
    >>> buckets([3, 40, 5, 4], max_texts=64)                                 # texts 0,3,2 together; 1 alone
    [[0, 3, 2], [1]]
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from seje_sdk.bert import load_tokenizer
from seje_sdk.errors import BundleError
from seje_sdk.text import RecipeText, split_sentences

FIELDS = 2  # title, ingredient lines
INGREDIENT_JOIN = "; "
SPLIT_GRAPH = "sentence"  # text.sentence_encoder.graph of bundles whose MiniLM is its own graph
BUCKET_TEXTS = 64  # most texts per MiniLM run
# A bucket grows while its padded word pieces stay within this factor of its real ones: fewer,
# fuller runs against less padding (measured in docs/sentence-features.md).
BUCKET_SLACK = 1.5
Run = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


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

    def feeds(self, recipes: Sequence[RecipeText]) -> dict[str, np.ndarray]:
        """The recipe graph's sentence_tokens and sentence_lengths."""
        tokens, lengths = self(recipes)
        return {"sentence_tokens": tokens, "sentence_lengths": lengths}

    @classmethod
    def from_bundle(cls, bundle: Any) -> "SlotEncoder | None":
        """The MiniLM slot encoder of an old-layout bundle, or None for a skip-instructions bundle."""
        entry = minilm_entry(bundle)
        if entry is None:
            return None
        return cls(*_slot_settings(bundle, entry))


def minilm_entry(bundle: Any) -> dict[str, Any] | None:
    """The manifest's text.sentence_encoder of a MiniLM bundle, None for skip-instructions; BundleError if unknown."""
    entry = bundle.manifest["text"].get("sentence_encoder") or {"name": "skip"}
    if entry.get("name", "skip") == "skip":
        return None
    if entry.get("name") != "minilm" or "tokenizer" not in entry or entry.get("graph", SPLIT_GRAPH) != SPLIT_GRAPH:
        raise BundleError(f"bundle {bundle.path}: unknown text.sentence_encoder {entry!r}; re-export it")
    return entry


def _slot_settings(bundle: Any, entry: dict[str, Any]) -> tuple[Any, int, int]:
    """(tokenizer, fields, instruction sentences per recipe) of a MiniLM bundle, for either layout."""
    fields = int(entry.get("fields", 0))
    tokenizer = load_tokenizer(bundle.file(entry["tokenizer"], "sentence tokenizer"), int(entry["max_tokens"]))
    return tokenizer, fields, bundle.text_limits.max_sentences - fields


def has_sentence_graph(bundle: Any) -> bool:
    """Whether the bundle's MiniLM is its own graph (role "sentence"), so its recipe graph takes vectors."""
    entry = minilm_entry(bundle)
    return entry is not None and entry.get("graph") == SPLIT_GRAPH


def buckets(lengths: Sequence[int], max_texts: int = BUCKET_TEXTS, slack: float = BUCKET_SLACK) -> list[list[int]]:
    """Text indices in MiniLM runs: sorted by length, a run closes when full or when padding would pass `slack`."""
    out: list[list[int]] = []
    real = 0
    for i in sorted(range(len(lengths)), key=lambda j: lengths[j]):
        if out and len(out[-1]) < max_texts and (len(out[-1]) + 1) * lengths[i] <= slack * (real + lengths[i]):
            out[-1].append(i)
            real += lengths[i]
        else:
            out.append([i])
            real = lengths[i]
    return out


def embed_ids(texts: Sequence[Sequence[int]], run: Run, dim: int, max_texts: int = BUCKET_TEXTS) -> np.ndarray:
    """(N, d) MiniLM vectors of word-piece id lists, one run per bucket padded to its own longest text (d: the graph's
    output width; `dim` when there is no text)."""
    out = np.zeros((len(texts), dim), np.float32)
    for rows in buckets([len(t) for t in texts], max_texts):
        longest = max(len(texts[r]) for r in rows)
        ids = np.zeros((len(rows), longest), np.int64)
        mask = np.zeros((len(rows), longest), np.int64)
        for k, r in enumerate(rows):
            ids[k, :len(texts[r])], mask[k, :len(texts[r])] = texts[r], 1
        vectors = run({"input_ids": ids, "attention_mask": mask})["embedding"]
        if vectors.shape[1] != out.shape[1]:
            out = np.zeros((len(texts), vectors.shape[1]), np.float32)  # first run, another width: nothing written yet
        out[rows] = vectors
    return out


def slot_vectors(slots: Sequence[Sequence[Sequence[int]]], run: Run, dim: int = 384, min_slots: int = 1,
                 max_texts: int = BUCKET_TEXTS) -> tuple[np.ndarray, np.ndarray]:
    """sentence_vectors (B,S,dim) float32 and num_sentences (B,) int64 of each recipe's slot id lists.

    Each distinct text is embedded once; padding slots are zero vectors, never run.
    """
    distinct = list(dict.fromkeys(tuple(t) for recipe in slots for t in recipe))
    vectors = embed_ids(distinct, run, dim, max_texts)
    row = {t: i for i, t in enumerate(distinct)}
    counts = np.array([len(recipe) for recipe in slots], dtype=np.int64)
    out = np.zeros((len(slots), max([min_slots, *counts.tolist()]), vectors.shape[1]), np.float32)
    for b, recipe in enumerate(slots):
        if len(recipe):
            out[b, :len(recipe)] = vectors[[row[tuple(t)] for t in recipe]]
    return out, counts


def slot_ids(tokens: np.ndarray, lengths: np.ndarray) -> list[list[list[int]]]:
    """Each recipe's non-empty slots as word-piece id lists, from packed (B,S,L) / (B,S) slot inputs."""
    return [[tokens[b, s, :n].tolist() for s, n in enumerate(row) if n > 0] for b, row in enumerate(lengths)]


@dataclass(frozen=True)
class SentenceVectors:
    """The text side of a split MiniLM bundle: slot texts -> word pieces -> bucketed sentence graph -> vectors."""

    tokenizer: Any
    fields: int
    max_sentences: int  # instruction sentences per recipe
    run: Run  # the sentence graph: {input_ids, attention_mask} -> {"embedding": (N, dim)}
    dim: int = 384
    max_texts: int = BUCKET_TEXTS

    def feeds(self, recipes: Sequence[RecipeText]) -> dict[str, np.ndarray]:
        """The recipe graph's sentence_vectors (B,S,dim) and num_sentences (B,) of a batch."""
        texts = [slot_texts(r, self.max_sentences, self.fields) for r in recipes]
        flat = [t for slots in texts for t in slots]
        encodings = self.tokenizer.encode_batch(flat) if flat else []
        ids = [e.ids[:sum(e.attention_mask)] for e in encodings]
        per_recipe, k = [], 0
        for slots in texts:
            per_recipe.append(ids[k:k + len(slots)])
            k += len(slots)
        vectors, counts = slot_vectors(per_recipe, self.run, self.dim, self.fields + 1, self.max_texts)
        return {"sentence_vectors": vectors, "num_sentences": counts}

    @classmethod
    def from_bundle(cls, bundle: Any, run: Run, max_texts: int = BUCKET_TEXTS) -> "SentenceVectors":
        """The sentence side of a bundle with a sentence graph (has_sentence_graph), running it through `run`."""
        entry = minilm_entry(bundle)
        return cls(*_slot_settings(bundle, entry), run, int(entry.get("dim", 384)), max_texts)
