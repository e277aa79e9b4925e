"""benchmarks.typo_queries: one typo per title, never a vocabulary word, always a different word."""
from __future__ import annotations

import numpy as np

from benchmarks.typo_queries import misspell, typo_titles
from seje_sdk.text import Vocab


def test_misspell_deletes_or_swaps_one_inner_letter():
    rng = np.random.default_rng(0)
    for word in ("garlic", "salsa", "shrimp", "aaaaa"):
        for _ in range(20):
            typo = misspell(word, rng)
            assert typo != word and typo[0] == word[0] and len(word) - 1 <= len(typo) <= len(word)


def test_typo_titles_touch_one_known_long_word_per_title():
    vocab = Vocab.build(["garlic", "shrimp", "with", "salsa"])
    typed, pairs = typo_titles(["Garlic Shrimp with Salsa", "Pie"], vocab, seed=0)
    assert typed[1] == "pie" and len(pairs) == 1
    typo, word = pairs[0]
    assert typo not in vocab and word in typed[0].replace(typo, word).split()
    assert sum(a != b for a, b in zip(typed[0].split(), "garlic shrimp with salsa".split())) == 1
