"""How recipes of one dish differ: flavour (base colour), finish, garnish, portion and vessel.

Each attribute shows in BOTH modalities, so that knowing the dish is not enough to find the
recipe: the flavour is an ingredient line and tints the dish body; the finish is a cooking step
("Grill ... until marked") and draws grill stripes, char spots, a browned crust...; the garnish
is an ingredient line plus a step and sits on top of the food; the portion is a step ("Makes 2
servings") and the food's size; the vessel is the serving step ("Serve on a wooden board") and
what the food sits on. Flavours and vessels are shared by all dishes, so a colour statistic
does not name the dish.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from trainer.data.synth_catalog import Dish


@dataclass(frozen=True)
class Flavour:
    """A base variant: an ingredient that tints the dish's body."""

    word: str                # title word ("Cocoa Pancakes")
    ingredient: str | None   # catalogue name added to the recipe; None: the plain dish
    colour: str | None       # the tint; None keeps the dish's own colours


FLAVOURS = (
    Flavour("", None, None),
    Flavour("Cocoa", "cocoa powder", "#4a2c1c"),
    Flavour("Pesto", "pesto", "#4f8a2e"),
    Flavour("Beet", "beet puree", "#9a2246"),
    Flavour("Turmeric", "turmeric", "#e7b31c"),
    Flavour("Tomato", "tomato paste", "#c7402b"),
    Flavour("Coconut", "coconut cream", "#f3eee2"),
    Flavour("Squid Ink", "squid ink", "#26262b"),
    Flavour("Matcha", "matcha powder", "#93b34a"),
    Flavour("Pumpkin", "pumpkin puree", "#e2862a"),
)
FLAVOUR_WEIGHTS = np.array([2.0] + [1.0] * (len(FLAVOURS) - 1))
FLAVOUR_MIX = 0.85  # share of the flavour's colour in the tinted body

# finish -> (instruction step, title word). The step opens with the action, as recipe English does.
FINISHES: dict[str, tuple[tuple[str, ...], str]] = {
    "plain": ((), ""),
    "grilled": (("Grill over high heat until marked with dark stripes, about {t} minutes.",
                 "Grill on a hot grill pan until charred lines form."), "Grilled"),
    "browned": (("Broil for {t} minutes, until the top is deep golden brown.",
                 "Broil until well browned on top."), "Golden"),
    "charred": (("Char the top with a kitchen torch until blackened in spots.",
                 "Char under a very hot broiler until blistered and blackened in places."), "Charred"),
    "toasted": (("Toast under the broiler until speckled with brown.",
                 "Toast briefly in a hot oven until freckled and crisp."), "Toasted"),
    "glazed": (("Glaze with a thin coat of syrup and return to the oven until shiny.",
                "Glaze the top until glossy."), "Glazed"),
}
FINISH_WEIGHTS = np.array([2.0, 1.0, 1.0, 1.0, 1.0, 1.0])

# garnish -> (catalogue ingredient, how it is drawn)
GARNISHES: dict[str, tuple[str | None, str]] = {
    "none": (None, ""),
    "parsley": ("parsley", "sprig"),
    "lemon": ("lemon", "wedge"),
    "mint": ("mint", "leaves"),
    "sour cream": ("sour cream", "dollop"),
    "powdered sugar": ("powdered sugar", "dust"),
    "sesame seeds": ("sesame seeds", "seeds"),
    "red pepper flakes": ("red pepper flakes", "flakes"),
    "balsamic glaze": ("balsamic glaze", "drizzle"),
    "sriracha": ("sriracha", "drizzle"),
}
GARNISH_STEPS = ("Garnish with the {g} just before serving.", "Top with {g}.", "Finish with {g}.")

# portion -> (servings, share of the vessel the food covers, count scale)
PORTIONS: dict[str, tuple[int, float, float]] = {"small": (2, 0.62, 0.6), "medium": (4, 0.82, 1.0), "large": (8, 1.0, 1.4)}
PORTION_STEPS = ("Makes {n} servings.", "Serves {n}.")

# vessel -> serving step. The head noun after "on a / in a" enters the utensil lexicon.
VESSELS: dict[str, tuple[str, ...]] = {
    "plate": ("Serve on a plate.", "Slide onto a warm plate and serve."),
    "bowl": ("Serve in a bowl.", "Spoon into a wide bowl to serve."),
    "board": ("Serve on a wooden board.", "Present on a board."),
    "skillet": ("Serve straight from a cast-iron skillet.", "Bring to the table in a skillet."),
    "platter": ("Arrange on a large platter.", "Serve on an oval platter."),
    "tray": ("Serve on a metal tray.", "Set out on a tray."),
    "dish": ("Serve from a casserole.", "Bring to the table in a casserole."),
    "glass": ("Pour into a tall glass.", "Serve in a glass."),
}
LIQUID_FORMS = ("liquid", "dip", "glass")
LIQUID_VESSELS = ("bowl", "skillet", "dish", "glass")
SOLID_VESSELS = ("plate", "bowl", "board", "skillet", "platter", "tray", "dish")


@dataclass(frozen=True)
class Variant:
    """The attributes that set one recipe of a dish apart from the others (same for all its photos)."""

    flavour: Flavour
    finish: str
    garnish: str
    portion: str
    vessel: str


def dish_vessels(dish: Dish) -> tuple[str, ...]:
    """The dish's own vessel plus two more, fixed per dish (a stable hash of its name)."""
    pool = [v for v in (LIQUID_VESSELS if dish.form in LIQUID_FORMS else SOLID_VESSELS) if v != dish.vessel]
    h = int(hashlib.sha1(dish.name.encode()).hexdigest()[:8], 16)
    first = pool[h % len(pool)]
    second = [v for v in pool if v != first][(h // len(pool)) % (len(pool) - 1)]
    return (dish.vessel, first, second)


def draw_variant(dish: Dish, used: list[str], rng: np.random.Generator) -> Variant:
    """Draw a recipe's attributes; the garnish is never one of its ingredients already."""
    flavour = FLAVOURS[rng.choice(len(FLAVOURS), p=FLAVOUR_WEIGHTS / FLAVOUR_WEIGHTS.sum())]
    finish = list(FINISHES)[rng.choice(len(FINISHES), p=FINISH_WEIGHTS / FINISH_WEIGHTS.sum())]
    garnishes = [g for g, (name, _) in GARNISHES.items() if name not in used]
    garnish = garnishes[rng.integers(len(garnishes))]
    portion = list(PORTIONS)[rng.integers(len(PORTIONS))]
    vessels = dish_vessels(dish)
    vessel = vessels[rng.integers(len(vessels))]
    return Variant(flavour, finish, garnish, portion, vessel)


def variant_steps(variant: Variant, rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """(steps before serving, closing steps): the finish, then garnish, portion and vessel."""
    before = []
    options, _ = FINISHES[variant.finish]
    if options:
        before.append(options[rng.integers(len(options))].format(t=int(rng.choice([2, 3, 4, 5]))))
    closing = []
    name, _ = GARNISHES[variant.garnish]
    if name:
        closing.append(GARNISH_STEPS[rng.integers(len(GARNISH_STEPS))].format(g=name))
    serve = VESSELS[variant.vessel]
    closing.append(serve[rng.integers(len(serve))])
    servings = PORTIONS[variant.portion][0]
    closing.append(PORTION_STEPS[rng.integers(len(PORTION_STEPS))].format(n=servings))
    return before, closing
