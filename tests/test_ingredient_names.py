"""Ingredient names derived from realistic recipe lines (det_ingrs.json for imported collections)."""
from __future__ import annotations

import pytest

from collections import Counter

from trainer.data.ingredient_names import derive_det_ingredients, ingredient_name, shared_heads
from trainer.features.tagger import line_labels

LINES = [
    ("2 cups chopped fresh basil leaves", "basil leaves"),
    ("1 (15 ounce) can black beans, rinsed and drained", "black beans"),
    ("3 cloves garlic, minced", "garlic"),
    ("Salt and freshly ground black pepper to taste", "salt"),
    ("1/2 cup butter or margarine, softened", "butter"),
    ("1½ lbs boneless skinless chicken breasts, cut into 1-inch pieces", "chicken breasts"),
    ("2 large eggs", "eggs"),
    ("1-2 tsp. red pepper flakes (optional)", "red pepper flakes"),
    ("1 to 2 medium sliced green onions", "green onions"),
    ("a pinch of salt", "salt"),
    ("4 oz. cream cheese, at room temperature", "cream cheese"),
    ("2 cans (14.5 oz each) diced tomatoes", "tomatoes"),
    ("1/4 teaspoon ground cinnamon", "ground cinnamon"),
    ("8 slices bacon", "bacon"),
    ("Fresh parsley for garnish", "parsley"),
    ("1 medium onion, finely chopped", "onion"),
    ("250g dark chocolate (70%)", "dark chocolate"),
    ("Brinjal 4", "brinjal"),
    ("Mango, ripe, kesar", "mango"),
    ("3 tbsp soy sauce", "soy sauce"),
    # the first part that still names something wins: a cut before the noun no longer empties the name
    ("3 tablespoons cold and cubed butter (about 200 g)", "butter"),
    ("1 1/2 pounds boneless peeled and deveined shrimp", "shrimp"),
    ("2 pints hulled and sliced fresh strawberries", "strawberries"),
    ("water as needed", "water"),
    ("1 recipe your favorite topping", "your favorite topping"),
]


@pytest.mark.parametrize("line,name", LINES)
def test_name_of_a_realistic_line(line, name):
    assert ingredient_name(line) == name


def test_derived_names_label_their_lines_for_the_tagger():
    names, valid = derive_det_ingredients([line for line, _ in LINES] + ["(optional)", "2 cups"])
    assert valid[: len(LINES)] == [True] * len(LINES) and valid[-2:] == [False, False]
    assert names[-2:] == ["", ""]
    for (line, _), name in zip(LINES, names):
        tokens, labels = line_labels(line, name)
        assert " ".join(t for t, y in zip(tokens, labels) if y) == " ".join(name.split())


def test_shared_heads_merge_modifiers_into_the_frequent_name():
    counts = Counter({"butter": 5, "unsalted butter": 4, "salted butter": 1, "ground beef": 3, "lean ground beef": 2,
                      "beef": 1, "coconut": 3, "coconut milk": 2, "milk": 6, "garlic cloves": 4})
    heads = shared_heads(counts)
    assert heads == {"unsalted butter": "butter", "salted butter": "butter", "lean ground beef": "ground beef"}
    names, valid = derive_det_ingredients(["2 tbsp unsalted butter", "1 cup coconut milk"], heads)
    assert names == ["butter", "coconut milk"] and valid == [True, True]
