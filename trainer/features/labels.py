"""Category labels in the classes1M.pkl form: recipe id -> class id, class id -> name, 0 = background.

Taken from the dataset's classes1M.pkl when it has one. Otherwise derived from title bigrams as
im2recipe's `bigrams.py` does: the most frequent bigrams of training titles become classes and a
recipe takes the class whose name occurs in its title (im2recipe's rule,
trainer.data.classes.class_of_title), or background. (im2recipe also merges the Food-101 class
names in; that list is not shipped here, so only bigrams are used.)
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Iterable

from seje_sdk.text import tokenize

from trainer.data.classes import BACKGROUND, class_of_title, read_classes
from trainer.features.lexicon import STOP


def _bigrams(title: str) -> list[str]:
    toks = [t for t in tokenize(title) if t not in STOP and not t[0].isdigit()]
    return list(dict.fromkeys(f"{a} {b}" for a, b in zip(toks, toks[1:])))


def title_bigram_classes(
    recipes: Iterable, max_classes: int = 50, min_count: int = 5
) -> tuple[dict[str, int], dict[int, str]]:
    """Classes from the training titles' most frequent bigrams; every given recipe is labelled."""
    recipes = list(recipes)
    counts = Counter(b for r in recipes if r.partition == "train" for b in _bigrams(r.title))
    kept = [b for b, n in counts.most_common(max_classes) if n >= min_count]
    names = {0: BACKGROUND, **{i + 1: b for i, b in enumerate(kept)}}
    return {r.id: class_of_title(r.title, names) for r in recipes}, names


def category_labels(data_dir: str | Path, recipes: Iterable, max_classes: int = 50, min_count: int = 5):
    """(class_of, names, source): from data_dir/classes1M.pkl if present, else from title bigrams."""
    path = Path(data_dir) / "classes1M.pkl"
    recipes = list(recipes)
    if path.is_file():
        class_of, names = read_classes(path)
        class_of = {r.id: int(class_of.get(r.id, 0)) for r in recipes}
        return class_of, names, "classes1M.pkl"
    class_of, names = title_bigram_classes(recipes, max_classes, min_count)
    return class_of, names, "title bigrams"

