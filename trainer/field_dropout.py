"""Field dropout: train the recipe encoder on partial recipes, so a title, an ingredient list or the
instructions alone (a typed query) land near their photos.

A recipe's fields are a mask: bit 1 title, 2 ingredients, 4 instructions (7 = the whole recipe).
With probability `field_dropout` a training recipe is replaced, for one step, by one of the six
partial recipes (uniformly). Its term feature is the one seje_sdk.terms computes for that partial
recipe (precomputed once per mask by `partial_term_features`), and without instructions its
sentence count is 0, which is exactly what the exported graph sees for a recipe without
instructions (one padded sentence of length 0: the instruction branch gives zeros).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

TITLE, INGREDIENTS, INSTRUCTIONS = 1, 2, 4
FULL = TITLE | INGREDIENTS | INSTRUCTIONS
PARTIAL = tuple(range(1, FULL))  # the six non-empty, incomplete field sets
NAMES = {TITLE: "title", INGREDIENTS: "ingredients", INSTRUCTIONS: "instructions"}


def mask_name(mask: int) -> str:
    """'title+instructions' for 5, 'full' for 7."""
    return "full" if mask == FULL else "+".join(name for bit, name in NAMES.items() if mask & bit)


def keep_fields(recipe: Any, mask: int) -> Any:
    """The RecipeText with the fields outside `mask` emptied."""
    from seje_sdk.text import RecipeText

    return RecipeText(title=recipe.title if mask & TITLE else "",
                      ingredients=tuple(recipe.ingredients) if mask & INGREDIENTS else (),
                      instructions=tuple(recipe.instructions) if mask & INSTRUCTIONS else ())


def recipe_texts(data_dir: str | Path, recipe_ids: Sequence[str], partition: str) -> list[Any]:
    """RecipeTexts of a split's recipes, in the order of `recipe_ids`."""
    from seje_sdk.text import RecipeText
    from trainer.data.recipe1m import read_split

    by_id = {r.id: r for r in read_split(data_dir, partition, require_images=True)}
    return [RecipeText(title=by_id[i].title or "", ingredients=tuple(by_id[i].ingredients),
                       instructions=tuple(by_id[i].instructions)) for i in recipe_ids]


def partial_term_features(texts: Sequence[Any], features_dir: str | Path, store: Any,
                          masks: Sequence[int] = PARTIAL, batch: int = 256) -> dict[int, np.ndarray]:
    """{mask: (N, W) float32} term features of each partial recipe, computed as the SDK computes them."""
    from seje_sdk.terms import TermTables, term_features
    from trainer.features.tagger import load_tagger, torch_tagger_fn

    tables, tagger_fn = TermTables.load(features_dir), torch_tagger_fn(load_tagger(features_dir))
    ranker = str(store.config.get("ranker", "tfidf"))
    bert_fn = None
    if ranker == "bert":
        from trainer.features.rankers import bert_fn_from

        bert_fn = bert_fn_from(store.config.get("bert_model"))
    title_terms = bool(store.config.get("title_terms", False))
    out = {}
    for mask in masks:
        kept = [keep_fields(t, mask) for t in texts]
        out[mask] = np.concatenate([term_features(kept[i:i + batch], tables, tagger_fn, ranker, bert_fn, title_terms)
                                    for i in range(0, len(kept), batch)] or [np.zeros((0, tables.dim), np.float32)])
    return out


class FieldDropout:
    """Per-recipe field masks for each epoch, and the batch tensors they give."""

    def __init__(self, probability: float, full_terms: Tensor, partial: dict[int, np.ndarray], seed: int) -> None:
        self.probability, self.seed = probability, seed
        table = [full_terms] * (FULL + 1)
        for mask, feats in partial.items():
            table[mask] = torch.from_numpy(np.asarray(feats, dtype=np.float32))
        self.terms = torch.stack(table)  # (8, N, W); row 0 unused

    @classmethod
    def build(cls, probability: float, full_terms: Tensor, data_dir: str | Path, features_dir: str | Path, store: Any,
              recipe_ids: Sequence[str], seed: int) -> "FieldDropout":
        """Precompute the partial term features of the training split (a few seconds per thousand recipes)."""
        start = time.perf_counter()
        partial = partial_term_features(recipe_texts(data_dir, recipe_ids, "train"), features_dir, store)
        print(f"field dropout {probability:g}: partial-recipe term features of {len(recipe_ids)} recipes "
              f"({time.perf_counter() - start:.1f} s)")
        return cls(probability, full_terms, partial, seed)

    def masks(self, epoch: int, n: int) -> np.ndarray:
        """(n,) field masks of an epoch, a function of (seed, epoch) only (resume gives the same)."""
        rng = np.random.default_rng([self.seed, epoch, 0xF1E1D])
        drop = rng.random(n) < self.probability
        return np.where(drop, rng.choice(np.asarray(PARTIAL), size=n), FULL)

    def apply(self, idx: np.ndarray, masks: np.ndarray, counts: Tensor) -> tuple[Tensor, Tensor]:
        """(sentence counts, term features) of a batch with each recipe's fields outside its mask removed."""
        m = torch.from_numpy(masks[idx])
        counts = torch.where((m & INSTRUCTIONS) > 0, counts, torch.zeros_like(counts))
        return counts, self.terms[m, torch.from_numpy(idx)]
