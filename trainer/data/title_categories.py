"""Dish categories for a collection that has none, from its titles, the way im2recipe made Recipe1M's.

im2recipe counted the bigrams of Recipe1M's titles, kept the frequent ones (plus Food-101's
names) as classes and gave each recipe the class found in its title, or class 0 "background".
Here the candidates are the training titles' frequent bigrams ("chicken curry") and frequent
dish words, i.e. a title's last word, where English puts the dish ("... banana bread" -> "bread").
A title takes the most frequent matching bigram, else the most frequent matching dish word.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable

from seje_sdk.text import tokenize
from trainer.data.classes import BACKGROUND
from trainer.features.lexicon import STOP


@dataclass(frozen=True)
class CategoryConfig:
    """How many classes at most, and how many training titles a candidate needs."""

    max_classes: int = 1000
    min_count: int | None = None  # None: 2 for a few hundred training titles, rising to 5 from 1,250

    def min_count_for(self, n_titles: int) -> int:
        """The count a candidate needs: fixed, or scaled so that small collections still get classes."""
        return self.min_count if self.min_count is not None else min(5, max(2, n_titles // 250))


ROMAN = frozenset("i ii iii iv v vi vii viii ix x xi xii".split())  # "Tacos II": versions, not dishes


def title_words(title: str) -> list[str]:
    """Content words of a title (no stop words, numbers, version numerals or one-letter words)."""
    return [t for t in tokenize(title) if t not in STOP and t not in ROMAN and not t[0].isdigit() and len(t) > 1]


def _candidates(title: str) -> tuple[list[str], list[str]]:
    words = title_words(title)
    bigrams = list(dict.fromkeys(f"{a} {b}" for a, b in zip(words, words[1:])))
    return bigrams, words


def derive_categories(train_titles: Iterable[str], cfg: CategoryConfig = CategoryConfig()) -> dict[int, str]:
    """Class names {0: background, 1: most frequent, ...} from the training titles (streamed)."""
    counts: Counter = Counter()
    n_titles = 0
    for n_titles, title in enumerate(train_titles, 1):
        bigrams, words = _candidates(title)
        counts.update(bigrams)
        if words:
            counts[words[-1]] += 1
    min_count = cfg.min_count_for(n_titles)
    kept = [name for name, n in counts.most_common() if n >= min_count][: cfg.max_classes]
    return {0: BACKGROUND, **{i + 1: name for i, name in enumerate(kept)}}


def given_categories(counts: Counter) -> dict[int, str]:
    """Class names from the collection's own category column, most frequent first (ties by name)."""
    ordered = sorted(counts, key=lambda name: (-counts[name], name))
    return {0: BACKGROUND, **{i + 1: name for i, name in enumerate(n for n in ordered if n != BACKGROUND)}}


class TitleMatcher:
    """A title's class by n-gram lookup: the most frequent bigram class in it, else dish word, else 0."""

    def __init__(self, names: dict[int, str]) -> None:
        self.ids = {name: cid for cid, name in names.items() if cid != 0}

    def __call__(self, title: str) -> int:
        bigrams, words = _candidates(title)
        for group in (bigrams, words):
            found = [self.ids[g] for g in group if g in self.ids]
            if found:
                return min(found)
        return 0
