"""Recipe text for the synthetic dataset: title, ingredient lines with det_ingrs names, instructions.

Everything is drawn from a numpy Generator so the same seed gives the same text. The phrasing
mixes real cooking vocabulary (quantities, units, preparation words, actions, utensils) so that
Word2vec, the ingredient tagger and the action/utensil lexicon have something real to learn.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from trainer.data.synth_catalog import INGREDIENTS, Dish
from trainer.data.synth_lines import ingredient_line
from trainer.data.synth_variants import FINISHES, GARNISHES, Variant, draw_variant, variant_steps

# What role each utensil plays in a sentence: a container/pan you cook in, a tool, or an appliance.
APPLIANCES = {"oven", "slow cooker", "rice cooker", "grill", "blender", "food processor", "waffle iron", "deep fryer"}
TOOLS = {"rolling pin", "electric mixer", "wire rack", "whisk", "wooden spoon", "spatula", "bamboo mat", "sharp knife", "colander",
         "cutting board", "immersion blender", "ladle", "pastry brush", "fork", "piping bag", "aluminum foil", "meat thermometer",
         "kitchen twine", "basting brush", "tongs", "paper liners", "slotted spoon"}
ROLE_DEFAULT = {"pan": "large bowl", "tool": "spatula", "appliance": "oven"}
# Lines Recipe1M's ingredient detector does not map to its vocabulary: det text kept, valid=False.
NOISE_LINES = (
    ("parchment paper", "parchment paper"),
    ("water as needed", "water as needed"),
    ("cooking spray", "cooking spray"),
    ("fresh herbs, for garnish (optional)", "fresh herbs for garnish"),
    ("1 recipe your favorite topping", "your favorite topping"),
)
TITLE_WORD = {
    "blueberries": "Blueberry", "strawberries": "Strawberry", "bananas": "Banana", "apples": "Apple",
    "mushrooms": "Mushroom", "tomatoes": "Tomato", "walnuts": "Walnut", "pecans": "Pecan", "potatoes": "Potato",
    "carrots": "Carrot", "chocolate chips": "Chocolate Chip", "cherry tomatoes": "Cherry Tomato", "green onions": "Scallion",
    "black beans": "Black Bean", "kidney beans": "Bean", "chicken breast": "Chicken", "chicken thighs": "Chicken",
    "italian sausage": "Sausage", "beef sirloin": "Beef", "beef chuck": "Beef", "ground beef": "Beef",
    "cheddar cheese": "Cheddar", "parmesan cheese": "Parmesan", "feta cheese": "Feta", "swiss cheese": "Gruyere",
    "mozzarella cheese": "Mozzarella", "kalamata olives": "Olive", "red bell pepper": "Red Pepper", "green bell pepper": "Pepper",
}
ADJECTIVES = ("Easy", "Classic", "Homemade", "The Best", "Quick", "Simple", "Healthy", "Perfect", "Grandma's", "Old-Fashioned",
              "Spicy", "Creamy", "Rustic", "Ultimate", "Favorite", "Vegetarian", "Family", "Weeknight")
PEOPLE = ("Mom", "Grandma", "Aunt Judy", "Chef John", "Maria", "Uncle Bob", "Nana", "Katie", "Dad")
SITES = ("www.allrecipes.com", "www.food.com", "www.epicurious.com", "www.foodnetwork.com", "www.myrecipes.com", "www.kraftrecipes.com")

# Step templates per cooking method, as stages: (probability, alternatives). Placeholders:
# {pan}/{tool}/{appliance} a utensil of the dish in that role, {dry}/{wet}/{main}/{veg}/{herb}/{a}/{b} ingredient names,
# {t}/{t2} minutes, {temp}/{tempc} oven temperature.
_OVEN = (1.0, ("Preheat the oven to {temp} degrees F ({tempc} degrees C).", "Preheat oven to {temp} degrees F.",
               "Heat the oven to {temp}F and grease a {pan}.", "Preheat your oven to {temp} degrees and line a {pan} with parchment paper."))
_DRY = (0.9, ("In a large bowl, whisk together the {dry}.", "Sift the {dry} into a mixing bowl.", "Combine {dry} in a bowl; set aside.",
              "Stir together {dry} in a medium bowl."))
_WET = (0.9, ("In a separate bowl, beat the {wet} until smooth.", "Cream the {wet} with an electric mixer until light and fluffy.",
              "Whisk {wet} together until well blended.", "Beat in the {wet}, one at a time."))
_FOLD = (0.7, ("Fold in the {a}.", "Stir in {a} and {b}.", "Gently fold {a} into the batter.", "Mix in the {a} just until combined."))
_CHOP = (0.8, ("Chop the {veg}.", "Dice the {veg} and set aside.", "Wash and slice the {veg}.", "Finely chop {veg}.", "Peel and cut the {veg} into bite-size pieces."))
_SEASON = (0.6, ("Season with {herb}, salt and pepper.", "Season to taste with salt and pepper.", "Sprinkle with {herb}.", "Add {herb} and stir to combine."))
_SERVE = (0.7, ("Serve immediately.", "Serve warm with {a}.", "Garnish with {herb} and serve.", "Enjoy!", "Serve hot.", "Top with {a} before serving."))
_COOL = (0.6, ("Let cool on a wire rack for {t} minutes.", "Allow to cool completely before slicing.", "Cool in the pan for {t} minutes, then turn out.",
               "Let stand {t} minutes before cutting."))

METHODS: dict[str, tuple[tuple[float, tuple[str, ...]], ...]] = {
    "bake": (_OVEN, _DRY, _WET, (1.0, ("Combine the wet and dry ingredients and mix well.", "Add the flour mixture to the butter mixture and stir until just combined.",
                                      "Pour the wet ingredients into the dry ingredients.")), _FOLD, _CHOP,
             (1.0, ("Spread {a} evenly in the prepared {pan}.", "Transfer to the {pan} and arrange the {a} on top.", "Roll out the dough and place it in the {pan}.",
                    "Spoon the mixture onto the {pan}.")),
             (1.0, ("Bake for {t} to {t2} minutes, until golden brown.", "Bake in the preheated oven for {t} minutes, or until a toothpick inserted in the center comes out clean.",
                    "Bake {t} minutes until set and lightly browned.", "Bake until bubbly, about {t} minutes.")), _COOL, _SERVE),
    "simmer": (_CHOP, (1.0, ("Heat {wet} in a {pan} over medium-high heat.", "In a {pan}, heat the oil over medium heat.", "Melt the butter in a {pan}.")),
               (1.0, ("Brown the {main} on all sides, then remove and set aside.", "Add the {main} and cook until browned, about {t} minutes.", "Saute the {veg} until soft and translucent.",
                      "Cook {main} in batches until browned.")),
               (0.8, ("Stir in the {a} and cook for 1 minute.", "Add {a} and {b}; stir well.", "Add the garlic and cook until fragrant, about 30 seconds.")),
               (1.0, ("Pour in the {wet} and bring to a boil.", "Add the {wet}, scraping up the browned bits from the bottom of the pot.", "Stir in the {wet} and bring to a simmer.")),
               (1.0, ("Reduce heat, cover and simmer for {t} minutes.", "Simmer gently until the {main} is tender, about {t} minutes.", "Let simmer, stirring occasionally, for {t} to {t2} minutes.")),
               (0.6, ("Stir in the {a} and simmer {t} minutes more.", "Add the {veg} and cook until tender.", "Puree with an immersion blender until smooth.")), _SEASON,
               (0.6, ("Ladle into bowls.", "Serve in warm bowls.", "Spoon into bowls and top with {a}.")), _SERVE),
    "raw": (_CHOP, (0.8, ("In a small bowl, whisk together the {wet}.", "Whisk {wet} to make the dressing.", "Combine the {wet} in a jar and shake well.")),
            (1.0, ("In a {pan}, combine the {main}.", "Place the {main} in a {pan}.", "Toss the {main} together in a {pan}.", "Mash the {main} with a fork.")),
            (0.8, ("Add the {a} and {b}.", "Stir in {a}.", "Scatter the {a} over the top.")),
            (1.0, ("Pour the dressing over and toss to coat.", "Toss gently to combine.", "Mix until evenly combined.", "Stir everything together.")), _SEASON,
            (0.5, ("Cover and refrigerate for {t} minutes.", "Chill at least {t} minutes before serving.", "Let stand {t} minutes so the flavors blend.")), _SERVE),
    "griddle": (_DRY, _WET, (1.0, ("Make a well in the center and pour in the milk mixture; stir until smooth.", "Combine the batter; a few lumps are fine.",
                                   "Dip each slice in the egg mixture, turning to coat.", "Let the batter rest for {t} minutes.")),
                (1.0, ("Heat a lightly oiled {pan} over medium-high heat.", "Preheat the {pan} and brush with butter.", "Heat the {pan} over medium heat.")),
                (1.0, ("Pour about 1/4 cup batter onto the {pan} for each one.", "Cook until golden brown on both sides, about {t} minutes per side.", "Cook until bubbles form, then flip with a spatula.")),
                _FOLD, (0.7, ("Top with {a} and {b}.", "Drizzle with {a}.", "Dust with {a}.")), _SERVE),
    "roll": ((1.0, ("Rinse the {main} until the water runs clear.", "Cook the {main} in a {appliance} according to package directions.")),
             (1.0, ("Season the rice with {wet} and let cool.", "Stir {wet} into the warm rice.")), _CHOP,
             (1.0, ("Lay a sheet of nori on the {tool}.", "Place the nori shiny side down on the {tool}.")),
             (1.0, ("Spread a thin layer of rice over the nori.", "Press the rice evenly over the nori, leaving a border.")),
             (1.0, ("Arrange the {a} and {b} in a line along the bottom.", "Lay strips of {a} across the rice.")),
             (1.0, ("Roll up tightly using the {tool}.", "Roll away from you, pressing firmly.")),
             (0.8, ("Slice into 8 pieces with a wet knife.", "Cut each roll into pieces with a sharp knife.")), _SERVE),
    "boil": ((1.0, ("Bring a large pot of lightly salted water to a boil.", "Fill a {pan} with salted water and bring to a boil.")),
             (1.0, ("Cook the {main} for {t} minutes, until al dente; drain.", "Add the {main} and cook until tender, about {t} minutes. Drain in a colander.",
                    "Boil the {main} until fork tender, {t} to {t2} minutes.")), _CHOP,
             (1.0, ("Meanwhile, heat {wet} in a {pan} over medium heat.", "Melt the butter in a {pan}.", "In a {pan}, cook the {a} until browned.")),
             (0.9, ("Stir in the {a} and {b}.", "Add the {a} and cook {t} minutes.", "Whisk in the {wet} until smooth and thickened.")),
             (1.0, ("Toss the {main} with the sauce.", "Combine the drained {main} with the sauce.", "Fold the {main} into the mixture.")), _SEASON, _SERVE),
    "fry": (_CHOP, (1.0, ("Heat the oil in a {pan} over medium-high heat.", "Heat {wet} in a {pan}.", "Melt butter in a {pan} over medium heat.")),
            (1.0, ("Cook the {main} until browned, breaking it apart, about {t} minutes.", "Fry the {main} until golden, turning once.", "Pour in the {main} and cook without stirring until set.")),
            (0.8, ("Stir in the {a} and {b}.", "Add the {a} and cook {t} minutes more.", "Sprinkle the {a} over one half.")),
            (0.8, ("Drain on paper towels.", "Fold in half and slide onto a plate.", "Warm the {a} in the {pan}.")),
            (0.8, ("Fill with {a}, {b} and {herb}.", "Top with {a}.", "Dust with {a} while still warm.")), _SERVE),
    "grill": ((1.0, ("Preheat the {appliance} for medium-high heat and lightly oil the grate.", "Preheat an outdoor grill or {pan}.")),
              (1.0, ("Season the {main} with salt and pepper.", "Brush the {main} with {wet}.", "Shape the {main} into patties.")),
              (0.7, ("Mix the {a} with {b} in a small bowl.", "Whisk {wet} together for the glaze.")), _CHOP,
              (1.0, ("Grill for {t} minutes per side.", "Cook on the {appliance} until done, about {t} minutes, turning once.", "Grill until the {main} flakes easily with a fork.")),
              (0.7, ("Let rest {t} minutes.", "Transfer to a platter.")),
              (0.8, ("Top with {a} and {b}.", "Squeeze {a} over the top.", "Assemble with {a} and {b}.")), _SERVE),
    "stirfry": (_CHOP, (0.8, ("In a small bowl, whisk together the {wet}.", "Mix {wet} for the sauce.")),
                (1.0, ("Heat oil in a {pan} over high heat.", "Heat the {pan} until very hot and add the oil.")),
                (1.0, ("Stir-fry the {main} for {t} minutes; remove.", "Add the {main} and stir-fry until cooked through.", "Scramble the {a} and set aside.")),
                (1.0, ("Add the {veg} and stir-fry {t} minutes.", "Toss in the {a} and {b}.", "Stir-fry the {veg} until crisp-tender.")),
                (1.0, ("Return everything to the {pan}, pour in the sauce and toss.", "Add the sauce and cook until thickened.")),
                (0.6, ("Sprinkle with {a}.", "Garnish with {herb}.")), _SERVE),
    "blend": ((1.0, ("Place the {main} in a {appliance}.", "Combine the {main} in a {appliance}.", "Add {main} to the {appliance}.")),
              (0.8, ("Add the {wet}.", "Pour in {wet}.")),
              (1.0, ("Blend until smooth.", "Process until creamy, scraping down the sides.", "Puree until smooth, about {t} minutes.")),
              (0.6, ("Add {a} and blend again.", "Thin with a little water if needed.")),
              (0.8, ("Pour into a {pan}.", "Transfer to a serving bowl and drizzle with {a}.", "Top with {a}.")), _SERVE),
    "roast": (_OVEN, (1.0, ("Rinse the {main} and pat dry.", "Remove the giblets and pat the {main} dry with paper towels.")),
              (1.0, ("Rub the {main} with {wet}, {herb}, salt and pepper.", "Stuff the cavity with {a} and {b}.")), _CHOP,
              (0.9, ("Arrange the {veg} around the {main} in the {pan}.", "Place in a {pan}.")),
              (1.0, ("Roast for {t} minutes, until the juices run clear.", "Roast until a meat thermometer reads 165 degrees F, about {t} minutes.")),
              (0.8, ("Let rest {t} minutes before carving.", "Cover loosely with foil and rest.")), _SERVE),
}
EXTRA_STEPS = ("Stir occasionally.", "Taste and adjust the seasoning.", "Wash your hands and prepare your work surface.",
               "Make sure all ingredients are at room temperature.", "Do not overmix.", "Watch carefully so it does not burn.",
               "This can be made a day ahead.", "Store leftovers covered in the refrigerator.")


@dataclass
class RecipeText:
    """The text of one synthetic recipe, before it is split into layer1 / det_ingrs."""

    title: str
    ingredients: list[str]        # raw lines
    det_names: list[str]          # det_ingrs texts, aligned with `ingredients`
    det_valid: list[bool]
    instructions: list[str]
    used: list[str]               # catalogue names drawn as toppings (drives the photo)
    variant: Variant              # flavour, finish, garnish, portion, vessel (photo and text)


def pick_ingredients(dish: Dish, rng: np.random.Generator) -> list[str]:
    """Core ingredients (some substituted) plus a random subset of the common ones."""
    names = []
    for name in dish.core:
        alts = dish.subs.get(name)
        names.append(alts[rng.integers(len(alts))] if alts and rng.random() < 0.3 else name)
    names += [n for n in dish.common if rng.random() < 0.45]
    if rng.random() < 0.15:  # an unusual extra from the whole pantry keeps categories overlapping
        pantry = sorted(INGREDIENTS)
        names.append(pantry[rng.integers(len(pantry))])
    return list(dict.fromkeys(names))


def utensil_role(utensil: str) -> str:
    """'appliance' (oven, blender), 'tool' (whisk, spatula) or 'pan' (anything food goes in or on)."""
    return "appliance" if utensil in APPLIANCES else "tool" if utensil in TOOLS else "pan"


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _groups(used: list[str]) -> dict[str, list[str]]:
    kinds = {n: INGREDIENTS[n].kind for n in used}
    groups = {
        "dry": [n for n in used if kinds[n] in ("baking", "spice")],
        "wet": [n for n in used if kinds[n] in ("liquid", "sweet", "fat") or n == "eggs"],
        # the star of the dish: meat or fish when there is some, else pasta/rice/dough
        "main": [n for n in used if kinds[n] == "meat"] or [n for n in used if kinds[n] in ("grain", "package")],
        "veg": [n for n in used if kinds[n] in ("produce", "fruit", "can")],
        "herb": [n for n in used if kinds[n] == "herb"],
    }
    for key, fallback in (("main", "veg"), ("veg", "main"), ("herb", "dry")):
        if not groups[key]:
            groups[key] = groups[fallback] or list(used)
    for key in ("dry", "wet"):
        groups[key] = groups[key] or list(used)
    return groups


def instructions(dish: Dish, used: list[str], variant: Variant, rng: np.random.Generator) -> list[str]:
    """3-15 steps: the dish's method templates filled with this recipe's ingredients and tools, then its variant's steps."""
    groups = _groups(used)

    def some(key: str) -> str:
        pool = groups[key]
        k = int(rng.integers(1, min(3, len(pool)) + 1))
        return _join([pool[i] for i in sorted(rng.permutation(len(pool))[:k])])

    def pick(role: str) -> str:
        pool = [u for u in dish.utensils if utensil_role(u) == role] or [ROLE_DEFAULT[role]]
        return pool[rng.integers(len(pool))]

    temp = int(rng.choice([325, 350, 375, 400, 425, 450]))
    steps = []
    for prob, options in METHODS[dish.method]:
        if rng.random() >= prob:
            continue
        text = options[rng.integers(len(options))]
        t = int(rng.choice([2, 3, 5, 8, 10, 15, 20, 25, 30, 45, 60]))
        a, b = (used[i] for i in rng.permutation(len(used))[:2]) if len(used) > 1 else (used[0], used[0])
        fields = {k: some(k) for k in ("dry", "wet", "main", "veg", "herb") if "{" + k + "}" in text}
        steps.append(text.format(**{r: pick(r) for r in ROLE_DEFAULT if "{" + r + "}" in text}, a=a, b=b, t=t, t2=t + 5,
                                 temp=temp, tempc=int(round((temp - 32) / 1.8 / 5) * 5), **fields))
    while len(steps) < 15 and rng.random() < 0.25:
        steps.insert(int(rng.integers(1, len(steps) + 1)), EXTRA_STEPS[rng.integers(len(EXTRA_STEPS))])
    before, closing = variant_steps(variant, rng)
    steps = steps[: 15 - len(before) - len(closing)]
    cut = max(len(steps) - 1, 0)  # the finish comes before the method's last (serving) step
    return steps[:cut] + before + steps[cut:] + closing  # variant steps are never cut


def title(dish: Dish, used: list[str], variant: Variant, rng: np.random.Generator) -> str:
    """Usually contains the class name ('Easy Blueberry Pancakes'); ~10% do not (im2recipe's background)."""
    visible = [n for n in used if INGREDIENTS[n].colour and n not in dish.core] or used
    ing = visible[rng.integers(len(visible))]
    word = TITLE_WORD.get(ing, ing.title())
    cat = dish.name.title()
    if rng.random() < 0.1:
        options = list(dish.alt_titles) + [f"{PEOPLE[rng.integers(len(PEOPLE))]}'s {word} Surprise", f"{word} Delight"]
        return options[rng.integers(len(options))]
    options = (cat, f"{ADJECTIVES[rng.integers(len(ADJECTIVES))]} {cat}", f"{word} {cat}", f"{cat} with {word}",
               f"{PEOPLE[rng.integers(len(PEOPLE))]}'s {cat}", f"{ADJECTIVES[rng.integers(len(ADJECTIVES))]} {word} {cat}",
               f"{cat} I", f"{cat} II")
    name = options[rng.integers(len(options))]
    words = [w for w in (FINISHES[variant.finish][1], variant.flavour.word) if w and w.lower() not in dish.name]
    if words and rng.random() < 0.5:  # "Grilled Beet Pancakes": the variant in the title, as people name them
        name = name.replace(cat, " ".join(words[: int(rng.integers(1, len(words) + 1))] + [cat]))
    return name


def recipe_text(dish: Dish, rng: np.random.Generator) -> RecipeText:
    """Draw one recipe of `dish`: ingredients with aligned det_ingrs names, title and instructions."""
    used = pick_ingredients(dish, rng)
    variant = draw_variant(dish, used, rng)
    listed = used + ([variant.flavour.ingredient] if variant.flavour.ingredient not in (None, *used) else [])
    order = list(rng.permutation(len(listed))) if rng.random() < 0.3 else list(range(len(listed)))
    lines, det, valid = [], [], []
    for i in order:
        ing = INGREDIENTS[listed[i]]
        lines.append(ingredient_line(ing, rng, optional=ing.name not in dish.core and rng.random() < 0.12))
        det.append(ing.name)
        valid.append(True)
    garnish = GARNISHES[variant.garnish][0]
    if garnish:  # the garnish comes last, as in most written recipes
        lines.append(ingredient_line(INGREDIENTS[garnish], rng, garnish=True))
        det.append(garnish)
        valid.append(True)
    if rng.random() < 0.25:
        line, name = NOISE_LINES[rng.integers(len(NOISE_LINES))]
        pos = int(rng.integers(len(lines) + 1))
        lines.insert(pos, line)
        det.insert(pos, name)
        valid.insert(pos, False)
    return RecipeText(title(dish, used, variant, rng), lines, det, valid, instructions(dish, used, variant, rng), used, variant)


def slug(text: str) -> str:
    """URL slug of a title."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def recipe_url(title_text: str, rng: np.random.Generator) -> str:
    """A plausible source URL (never fetched)."""
    site = SITES[rng.integers(len(SITES))]
    return f"http://{site}/recipe/{int(rng.integers(10_000, 300_000))}/{slug(title_text)}/"
