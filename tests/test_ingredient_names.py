"""Ingredient names derived from realistic recipe lines (det_ingrs.json for imported collections)."""
from __future__ import annotations

import pytest
from collections import Counter
from trainer.data.import_ingredients import NameCollector, referred_name, shared_heads
from trainer.data.ingredient_names import misspelt, singular
from trainer.data.ingredient_names import derive_det_ingredients, ingredient_name
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


# Realistic recipes: the instructions name the ingredient the way cooks do.
COLLECTION = [
    (["1/2 cup unsalted butter, softened", "2 large eggs", "2 cups all-purpose flour", "1 cup packed brown sugar",
      "1/2 teaspoon salt"],
     ["Cream the butter and brown sugar.", "Beat in the eggs, then stir in the flour and salt."]),
    (["2 tablespoons butter", "3 garlic cloves, minced", "1 (13.5 ounce) can coconut milk", "1 pound chicken breasts"],
     ["Melt the butter in a pot.", "Add the garlic and cook 1 minute.", "Pour in the coconut milk.",
      "Add the chicken and simmer."]),
    (["1 tablespoon Land O'Lakes salted butter", "2 cloves garlic", "1 cup milk", "1/2 cup brown sugar"],
     ["Melt butter with the garlic.", "Whisk in the milk and brown sugar."]),
    (["3 cloves garlic, minced", "1/4 cup butter", "1 pound lean ground beef",
      "2 (14.5 ounce) cans diced tomatoes, drained"],
     ["Brown the ground beef with the garlic in butter.", "Stir in the tomatoes and simmer."]),
    (["1 pound ground beef", "1 cup milk", "1/2 cup freshly grated Parmesan cheese", "3 garlic cloves"],
     ["Mix the ground beef, milk and garlic.", "Top with the Parmesan cheese."]),
    (["2 cups milk", "1/2 cup grated Parmesan cheese", "2 cups diced tomatoes", "1 (14 ounce) can coconut milk",
      "1 teaspoon salt"],
     ["Heat the milk and coconut milk with the salt.", "Add the tomatoes; sprinkle with Parmesan cheese."]),
    (["1 1/2 pounds ground beef (85% lean)", "Kosher salt and freshly ground black pepper", "1 cup tomatoes",
      "2 cups whole milk"],
     ["Season the ground beef with salt and pepper.", "Add the tomatoes and the milk."]),
]


def collect(recipes=COLLECTION) -> NameCollector:
    names = NameCollector(min_count=2)  # a name used twice counts as frequent in seven recipes
    for lines, instructions in recipes:
        names.add([ingredient_name(line) for line in lines], instructions)
    return names


def test_referred_name_is_the_longest_part_the_instructions_use():
    folded = " melt the butter then add garlic and the coconut milk and tomato "
    assert referred_name("unsalted butter", folded) == "butter"
    assert referred_name("garlic cloves", folded) == "garlic"
    assert referred_name("coconut milk", folded) == "coconut milk"
    assert referred_name("diced tomatoes", folded) == "tomatoes"  # plural folded, the line's own word kept
    assert referred_name("saffron", folded) == ""
    assert [singular(w) for w in ("tomatoes", "berries", "leaves", "glass", "asparagus")] == \
        ["tomato", "berry", "leave", "glass", "asparagus"]


def test_a_collection_maps_modifiers_and_parts_to_the_name_its_recipes_use():
    names = collect()
    canonical = names.mapping()
    assert canonical["unsalted butter"] == "butter"
    assert canonical["land o'lakes salted butter"] == "butter"
    assert canonical["garlic cloves"] == "garlic"
    assert canonical["lean ground beef"] == "ground beef"
    assert canonical["kosher salt"] == "salt"
    # the recipes say "coconut milk", "brown sugar", "Parmesan cheese": genuine names stay
    for kept in ("coconut milk", "brown sugar", "parmesan cheese", "ground beef", "butter", "milk", "salt"):
        assert canonical.get(kept, kept) == kept
    # "chicken" is no line's name: "chicken breasts" stays (a part must itself be a frequent name)
    assert "chicken breasts" not in canonical
    before = set(names.names)
    after = {canonical.get(n, n) for n in before}
    assert len(after) < len(before)


def test_a_part_another_line_contains_does_not_vote():
    # "tomato" in the instructions may mean the diced tomatoes, so "tomato paste" keeps its name
    recipes = [(["2 tablespoons tomato paste", "1 cup diced tomatoes"], ["Stir in the tomato."])] * 4 + \
              [(["2 tomatoes"], ["Slice the tomato."])] * 3
    canonical = collect(recipes).mapping()
    assert "tomato paste" not in canonical


def test_names_without_instruction_evidence_fall_back_to_shared_heads():
    names = NameCollector()
    for _ in range(3):
        names.add(["butter"], ["Serve."])
    names.add(["unsalted butter", "coconut milk"], ["Serve."])
    assert names.mapping() == {"unsalted butter": "butter"}
    counts = Counter({"butter": 5, "unsalted butter": 4, "coconut": 3, "coconut milk": 2, "milk": 6})
    assert shared_heads(counts) == {"unsalted butter": "butter"}
    lines = ["2 tbsp unsalted butter", "1 cup coconut milk"]
    assert derive_det_ingredients(lines, names.mapping()) == (["butter", "coconut milk"], [True, True])


def test_misspellings_of_a_far_more_frequent_name_take_its_spelling():
    names = NameCollector()
    for _ in range(12):
        names.add(["garlic", "parmesan cheese", "tomatoes"], ["Add the garlic, tomatoes and parmesan cheese."])
    names.add(["garlick", "parmesean cheese", "tomatoe", "pecan"], ["Add the garlick."])
    canonical = names.mapping()
    assert canonical["garlick"] == "garlic" and canonical["parmesean cheese"] == "parmesan cheese"
    assert "pecan" not in canonical  # a rare genuine name stays
    assert derive_det_ingredients(["2 cloves garlick", "1/4 cup grated parmesean cheese"], canonical) == \
        (["garlic", "parmesan cheese"], [True, True])  # the tagger reads the misspelt words as the name
    assert not misspelt("tomatoes", "tomato") and not misspelt("pear", "peas") and misspelt("oregeno", "oregano")
