"""Ingredient lines as people write them, for the synthetic dataset.

Beyond "quantity unit name, prep" a line may carry: ranges ("2-3", "1 to 2"), unicode fractions
("½ cup", "1½ cups"), parentheticals ("(about 200 g)", "(1 stick)"), an "or" alternative that is
itself an ingredient elsewhere ("1 cup chicken broth or vegetable broth"), a brand ("Honey Maid
graham cracker crumbs"), an ingredient word used as a modifier ("milk chocolate chips", "corn
tortillas") and typos ("parmesean"). The det_ingrs name stays the catalogue name, so the first
name in the line (typo or not) is the ingredient and everything else is context: a per-token
dictionary lookup tags the alternative, the modifier and the brand's food word, and misses the
typo, where a tagger that reads the line gets them right.
"""

from __future__ import annotations

from difflib import SequenceMatcher

import numpy as np

from seje_sdk.text import tokenize
from trainer.data.synth_catalog import INGREDIENTS, PREPS, UNITS, Ingredient

SINGULAR_QTY = ("1", "1/2", "1/4", "3/4", "1/3", "2/3", "1/8", "½", "¼", "¾", "⅓", "⅔", "⅛")
QTY = ("1/4", "1/3", "1/2", "2/3", "3/4", "1", "1", "1 1/2", "2", "2", "3", "4")  # cups, spoons...
# Quantities that make sense for a unit ("1 pinch", "8 ounces", "2 large", never "1/3 eggs").
QTY_BY_UNIT = {"": ("1", "2", "2", "3", "4", "6"), "medium": ("1", "2", "3"), "large": ("1", "2", "3"), "pinch": ("1",),
               "ml": ("60", "120", "250", "500"), "grams": ("50", "100", "200", "250", "450", "500"),
               "ounces": ("4", "6", "8", "12", "16"), "pound": ("1/2", "1", "1 1/2", "2", "3"), "lb": ("1/2", "1", "1 1/2", "2", "3"),
               "sprig": ("2", "3", "4"), "stick": ("1", "2"), "pint": ("1", "2"), "bunch": ("1",), "sheet": ("2", "4", "6"), "package": ("1", "2"),
               "tsp": ("1/4", "1/2", "1", "2"), "teaspoon": ("1/8", "1/4", "1/2", "1", "1 1/2", "2")}
UNICODE_FRACTIONS = {"1/2": "½", "1/4": "¼", "3/4": "¾", "1/3": "⅓", "2/3": "⅔", "1/8": "⅛"}
RANGES = {"1": ("1-2", "1 to 2"), "2": ("2-3", "2 to 3"), "3": ("3-4", "3 to 4"), "4": ("4-5",), "6": ("6-8",)}
TASTE = {"salt", "kosher salt", "black pepper", "red pepper flakes"}
NOTES = ("(about 200 g)", "(about 1 cup)", "(8 oz)", "(about 2 cups)", "(room temperature)", "(divided)",
         "(see note)", "(or to taste)", "(about 450 g)", "(1 stick)", "(heaping)")
TAILS = (", plus more for greasing", ", plus more to taste", ", divided", ", at room temperature", ", or as needed",
         ", for serving", ", patted dry")
BRANDS = {
    "butter": ("Land O'Lakes", "Kerrygold"), "mayonnaise": ("Hellmann's", "Duke's"), "cream cheese": ("Philadelphia",),
    "ketchup": ("Heinz",), "all-purpose flour": ("Gold Medal", "King Arthur"), "white sugar": ("Domino",),
    "chocolate chips": ("Nestle Toll House", "Ghirardelli"), "graham cracker crumbs": ("Honey Maid",),
    "soy sauce": ("Kikkoman",), "tomato sauce": ("Hunt's", "Ragu"), "spaghetti": ("Barilla", "De Cecco"),
    "linguine": ("Barilla",), "elbow macaroni": ("Barilla",), "cheddar cheese": ("Kraft", "Tillamook", "Cabot"),
    "chicken broth": ("Swanson",), "taco seasoning": ("Old El Paso",), "rice": ("Uncle Ben's",), "sriracha": ("Huy Fong",),
    "vanilla extract": ("McCormick",), "mustard": ("Grey Poupon", "French's"), "whipped cream": ("Cool Whip",),
    "yogurt": ("Fage", "Chobani"), "tortillas": ("Mission",), "pie crust": ("Pillsbury",), "pizza dough": ("Pillsbury",),
    "coconut milk": ("Thai Kitchen",), "peanuts": ("Planters",), "salsa": ("Pace",), "parmesan cheese": ("BelGioioso",),
    "tuna": ("Chicken of the Sea",), "bread": ("Pepperidge Farm",), "ham": ("Butterball",),
}
# An ingredient word in front of another ingredient, naming a kind of it: "milk" is not an ingredient
# of "milk chocolate chips".
MODIFIERS = {
    "chocolate chips": ("milk",), "lettuce": ("butter",), "tortillas": ("corn", "spinach"), "croutons": ("garlic",),
    "ham": ("honey",), "mustard": ("honey",), "yogurt": ("lemon", "honey"), "bread": ("garlic",), "salsa": ("mango", "corn"),
    "rice": ("coconut milk",), "whipped cream": ("maple syrup",), "olive oil": ("lemon",), "bacon": ("maple syrup",),
    "tofu": ("ginger",),
}
TYPOS = {
    "tomatoes": ("tomatos", "tomatoe"), "broccoli": ("brocolli", "brocoli"), "parmesan": ("parmesean", "parmasan"),
    "cinnamon": ("cinammon", "cinnamin"), "jalapeno": ("jalepeno", "jalapino"), "mozzarella": ("mozarella", "mozzerella"),
    "zucchini": ("zuchini", "zucchinni"), "bananas": ("bannanas", "bananna"), "avocado": ("avacado", "avocodo"),
    "spaghetti": ("spagetti", "spaghettti"), "cheddar": ("chedder", "chedar"), "oregano": ("oregeno",),
    "cucumber": ("cucumbar",), "mayonnaise": ("mayonaise", "mayonase"), "vanilla": ("vanila", "vannila"),
    "pineapple": ("pinapple",), "potatoes": ("potatos", "potatoe"), "cilantro": ("cilantero", "cilanto"),
    "worcestershire": ("worchestershire", "worcestshire"), "raspberries": ("rasberries",), "lettuce": ("lettuse", "letuce"),
    "mushrooms": ("mushroms", "mushrooomss"), "chickpeas": ("chikpeas",), "garlic": ("garlick", "garilc"),
}
P_UNICODE, P_RANGE, P_NOTE, P_TAIL, P_ALTERNATIVE, P_BRAND, P_MODIFIER, P_TYPO = 0.35, 0.15, 0.15, 0.1, 0.12, 0.25, 0.5, 0.08


def _pick(options, rng: np.random.Generator):
    return options[rng.integers(len(options))]


def _same_token(a: str, b: str) -> bool:
    return a == b or a.rstrip("s") == b.rstrip("s") or a + "es" == b or b + "es" == a


def contains_name(form: str, name: str) -> bool:
    """Whether the surface form contains the det name's tokens (plural-insensitive) in order."""
    f, n = tokenize(form), tokenize(name)
    return any(all(_same_token(f[i + j], n[j]) for j in range(len(n))) for i in range(len(f) - len(n) + 1))


def surface_forms(ing: Ingredient) -> tuple[str, ...]:
    """The ingredient's written forms that name it (synonyms such as "scallions" are left out: the det name must be in the line)."""
    return tuple(f for f in ing.surface_forms() if contains_name(f, ing.name)) or (ing.name,)


def _quantity(pool: tuple[str, ...], rng: np.random.Generator) -> str:
    q = _pick(pool, rng)
    if q in RANGES and rng.random() < P_RANGE:
        return _pick(RANGES[q], rng)
    if rng.random() < P_UNICODE:
        whole, _, frac = q.rpartition(" ")
        if frac in UNICODE_FRACTIONS:
            glue = "" if rng.random() < 0.5 else " "
            return f"{whole}{glue}{UNICODE_FRACTIONS[frac]}" if whole else UNICODE_FRACTIONS[frac]
    return q


def _typo(form: str, rng: np.random.Generator) -> str:
    words = form.split()
    known = [i for i, w in enumerate(words) if w in TYPOS]
    if known:
        i = _pick(known, rng)
        words[i] = _pick(TYPOS[words[i]], rng)
        return " ".join(words)
    i = int(np.argmax([len(w) for w in words]))
    w = words[i]
    if len(w) >= 7 and w.isalpha():  # swap two inner letters or drop one
        k = int(rng.integers(1, len(w) - 2))
        typo = w[:k] + w[k + 1] + w[k] + w[k + 2 :] if rng.random() < 0.5 else w[:k] + w[k + 1 :]
        # keep it a recognisable misspelling (what the tagger's labeller accepts as the same word)
        if SequenceMatcher(None, typo.rstrip("s"), w.rstrip("s")).ratio() >= 0.85:
            words[i] = typo
    return " ".join(words)


def _alternative(ing: Ingredient, rng: np.random.Generator) -> str | None:
    """Another catalogue ingredient of the same kind, whose name shares no word with this one."""
    own = set(tokenize(ing.name))
    pool = sorted(n for n, i in INGREDIENTS.items() if i.kind == ing.kind and not own & set(tokenize(n)))
    return _pick(pool, rng) if pool else None


def _name_part(ing: Ingredient, rng: np.random.Generator) -> str:
    """The words naming the ingredient: brand or modifier, the surface form, a typo maybe."""
    form = _pick(surface_forms(ing), rng)
    if rng.random() < P_TYPO:
        form = _typo(form, rng)
    if ing.name in MODIFIERS and rng.random() < P_MODIFIER and not form.startswith(MODIFIERS[ing.name]):
        form = f"{_pick(MODIFIERS[ing.name], rng)} {form}"
    elif ing.name in BRANDS and rng.random() < P_BRAND:
        form = f"{_pick(BRANDS[ing.name], rng)} {form}"
    return form


def ingredient_line(ing: Ingredient, rng: np.random.Generator, optional: bool = False, garnish: bool = False) -> str:
    """One Recipe1M-style line: '2-3 cups chopped fresh basil (about 200 g)', '1 onion, diced', 'salt to taste'."""
    form = _name_part(ing, rng)
    if garnish:
        return _pick((f"{form}, for garnish", f"{form}, to garnish", f"{form} (for garnish)", f"{form}, for serving"), rng)
    if ing.name in TASTE and rng.random() < 0.4:
        return f"{form} to taste"
    sing, plur = _pick(UNITS[ing.kind], rng)
    key = sing.split()[-1] if sing.startswith("(") else sing
    q = _quantity(QTY_BY_UNIT.get(key, ("1", "2") if sing.startswith("(") else QTY), rng)
    unit = sing if q in SINGULAR_QTY else plur
    preps = PREPS.get(ing.kind, ())
    prep = _pick(preps, rng) if preps and rng.random() < 0.6 else ""
    if prep and prep.split()[-1] in form:
        prep = ""
    head = " ".join(p for p in (q, unit) if p)
    alt = _alternative(ing, rng) if rng.random() < P_ALTERNATIVE else None
    if alt:
        form = f"{form} or {alt}" if rng.random() < 0.6 else f"{form} (or {alt})"
    if rng.random() < P_NOTE:
        form += " " + _pick(NOTES, rng)
    line = f"{head} {prep} {form}" if prep and rng.random() < 0.5 else f"{head} {form}" + (f", {prep}" if prep else "")
    if ing.kind == "can" and rng.random() < 0.5:
        line += ", drained"
    elif rng.random() < P_TAIL:
        line += _pick(TAILS, rng)
    if optional:
        line += " (optional)" if rng.random() < 0.5 else ", optional"
    return line
