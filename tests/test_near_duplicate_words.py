"""Near-duplicate recipe vectors explained: which collapsed recipes differ only in unknown words."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seje_sdk.text import Vocab
from trainer.references import (explain_recipe_duplicates, near_duplicate_partners, near_duplicate_report,
                                near_duplicate_warnings, recipe_words)


@dataclass
class Rec:
    title: str
    ingredients: list
    instructions: list


RECIPES = [
    Rec("Brinjal 4", ["brinjal"], ["Fry it."]),
    Rec("Brinjal 6", ["brinjal"], ["Fry it."]),
    Rec("Mango, ripe, kesar", ["mango"], ["Slice it."]),
    Rec("Mango, ripe, gulabkhas", ["mango"], ["Slice it."]),
    Rec("Tomato soup", ["tomato"], ["Boil it."]),
    Rec("Tomato stew", ["tomato"], ["Boil it."]),
    Rec("Apple pie", ["apple", "flour"], ["Bake it."]),
]


def test_partners_and_the_explanation_name_the_unknown_words():
    vocab = Vocab.build("brinjal fry it mango ripe slice tomato soup stew boil apple pie flour bake".split())
    rng = np.random.default_rng(0)
    base = rng.normal(size=(4, 16)).astype(np.float32)
    vectors = np.stack([base[0], base[0], base[1], base[1], base[2], base[2] + 1e-6, base[3]])  # last: unique
    partners = near_duplicate_partners(vectors)
    assert list(partners) == [1, 0, 3, 2, 5, 4, -1]
    words = [recipe_words(r) for r in RECIPES]
    explained = explain_recipe_duplicates(words, partners, vocab)
    assert explained["recipes"] == 6 and explained["only_unknown_words"] == 4 and explained["known_words_differ"] == 2
    assert explained["unknown_words"] == {"4": 2, "6": 2, "gulabkhas": 2, "kesar": 2}
    assert explained["examples"][0]["unknown_words"] == ["4", "6"]
    report = near_duplicate_report(rng.normal(size=(7, 16)), vectors, words, vocab)
    lines = near_duplicate_warnings(report, "test")
    assert "6 test recipe vectors" not in lines[0] and "85.7% of the 7 test recipe vectors" in lines[0]
    assert "4 differ from their nearest recipe only in words outside the model's vocabulary" in lines[1]
    assert "'kesar' x2" in lines[1]


def test_without_words_the_report_keeps_its_old_shape():
    v = np.eye(5, dtype=np.float32)
    report = near_duplicate_report(v, v)
    assert report["recipe"] == 0.0 and "recipe_explained" not in report and near_duplicate_warnings(report, "x") == []
