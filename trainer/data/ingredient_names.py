"""Ingredient names derived from raw ingredient lines, for det_ingrs.json when a collection has none.

Recipe1M's det_ingrs.json gives each line its ingredient ("2 cups chopped fresh basil leaves" ->
"basil leaves"); outside Recipe1M nobody has that column. `ingredient_name` derives it by rule:
  1. lowercase; drop parentheticals ("(about 2 pounds)") and bracketed notes;
  2. cut the line at the first comma, semicolon, " for ", " to taste", " such as ", " or ", " and "
     (what follows is preparation, use, an alternative or a second ingredient: "butter, softened",
     "salt to taste", "butter or margarine", "salt and pepper");
  3. drop leading quantities and sizes: numbers, fractions ("1/2", "½", "1-2"), number words,
     units ("cups", "tbsp", "oz", "cloves", "can", ...) and "of";
  4. drop preparation words anywhere ("chopped", "finely", "fresh", "softened", "boneless", ...);
  5. keep at most the last four words (the head of the name);
  6. across the collection (trainer.data.import_ingredients): map a name to the part of it the
     recipes' instructions use ("unsalted butter" -> "butter", "garlic cloves" -> "garlic").
The name is marked valid when it is non-empty and every token of it occurs among the line's tokens
(seje_sdk.text.tokenize), or a misspelling of it does ("garlick" for "garlic"), which is what the
ingredient tagger needs to label the line (trainer.features.tagger.line_labels).
"""
from __future__ import annotations

import re
from difflib import SequenceMatcher

from seje_sdk.text import tokenize

NUMBER_WORDS = frozenset("a an one two three four five six seven eight nine ten twelve dozen half few several couple".split())
UNITS = frozenset(
    """cup cups c tablespoon tablespoons tbsp tbs tbl tbsps tb teaspoon teaspoons tsp tsps t ounce ounces oz fl
    pound pounds lb lbs gram grams g kg kilogram kilograms kilo ml milliliter milliliters millilitre millilitres
    l liter liters litre litres dl cl quart quarts qt pint pints pt gallon gallons gal clove cloves can cans tin tins
    package packages pkg pkgs packet packets jar jars bottle bottles box boxes bag bags carton cartons container
    containers envelope envelopes stick sticks bunch bunches sprig sprigs slice slices piece pieces pinch pinches
    dash dashes handful handfuls head heads stalk stalks rib ribs inch inches cm drop drops scoop scoops sheet sheets
    cube cubes fillet fillets loaf loaves leaf ear ears knob splash squeeze wedge wedges strip strips recipe recipes
    batch batches""".split()
)
SIZES = frozenset("large small medium big little extra jumbo heaping heaped level generous scant rounded whole".split())
PREPARATION = frozenset(
    """chopped minced diced sliced grated shredded peeled crushed melted softened beaten cooked uncooked drained rinsed
    halved quartered cubed trimmed seeded pitted cored julienned mashed sifted toasted roasted divided optional
    finely thinly roughly coarsely lightly freshly firmly loosely packed fresh frozen thawed canned boneless skinless
    warm cold cool room temperature about approximately plus more needed desired garnish serving taste into
    torn cut chunks pieces bite size sized thin thick rings dice deveined shelled hulled stemmed""".split()
)
_FRACTION = r"\d+(?:[./]\d+)?|[\u00bc-\u00be\u2150-\u215e]"
_QUANTITY = re.compile(rf"^(?:{_FRACTION})(?:\s*(?:-|to|–)\s*(?:{_FRACTION}))?(?:[a-z]+)?$")
_CUT = re.compile(r",|;|:|\bfor\b|\bto taste\b|\bas needed\b|\bsuch as\b|\bor\b|\band\b|\bif\b|\bplus\b")
_WORD = re.compile(r"[a-z\u00e0-\u00ff]+(?:['-][a-z\u00e0-\u00ff]+)*|\d+(?:[./]\d+)?|[\u00bc-\u00be\u2150-\u215e]")
MAX_NAME_WORDS = 4
TYPO_SIMILARITY = 0.8  # the tagger's threshold for a misspelt word (trainer.features.tagger)


def ingredient_name(line: str) -> str:
    """The ingredient a raw line names ("2 (15 oz) cans black beans, rinsed" -> "black beans"); "" if none.

    The first part of the line (cut as in step 2) that still names something after steps 3-4 wins,
    so "3 tbsp cold and cubed butter" gives "butter", not the empty "cold".
    """
    text = re.sub(r"\([^)]*\)|\[[^\]]*\]", " ", line.lower())
    for part in _CUT.split(text):
        if name := _name_of(part):
            return name
    return ""


def _name_of(text: str) -> str:
    words = _WORD.findall(text)
    while words and (_QUANTITY.match(words[0]) or words[0] in NUMBER_WORDS | UNITS | SIZES | {"of", "x", "to"}):
        words = words[1:]
    words = [w for w in words if w not in PREPARATION and not _QUANTITY.match(w) and w not in SIZES]
    while words and words[0] in UNITS | {"of", "and", "the"}:
        words = words[1:]
    while words and words[-1] in {"of", "and", "the", "with", "in"}:
        words = words[:-1]
    return " ".join(words[-MAX_NAME_WORDS:])


def singular(token: str) -> str:
    """A crude plural fold, the same on both sides of a comparison ("tomatoes", "berries" -> "tomato", "berry")."""
    if len(token) > 4 and token.endswith("ies"):
        return token[:-3] + "y"
    if len(token) > 4 and token.endswith(("oes", "ches", "shes", "xes", "sses")):
        return token[:-2]
    if len(token) > 3 and token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


def misspelt(word: str, right: str) -> bool:
    """`word` reads as a misspelling of `right`: same first letter, both 4+ letters, lengths within 2,
    similar enough (difflib), and not a plural of it."""
    if word[0] != right[0] or min(len(word), len(right)) < 4 or abs(len(word) - len(right)) > 2:
        return False
    if singular(word) == singular(right):
        return False
    match = SequenceMatcher(None, word, right, autojunk=False)
    return match.quick_ratio() >= TYPO_SIMILARITY and match.ratio() >= TYPO_SIMILARITY


def derive_det_ingredients(lines: list[str], canonical: dict[str, str] | None = None) -> tuple[list[str], list[bool]]:
    """(names, valid) aligned with `lines`, as det_ingrs.json stores them; `canonical` maps a name to
    its collection-level form (trainer.data.import_ingredients.NameCollector.mapping)."""
    names = [ingredient_name(line) for line in lines]
    names = [(canonical or {}).get(n, n) for n in names]
    valid = [bool(n) and _in_line(n, line) for n, line in zip(names, lines)]
    return names, valid


def _in_line(name: str, line: str) -> bool:
    tokens = set(tokenize(line))
    return all(t in tokens or any(misspelt(u, t) for u in tokens) for t in tokenize(name))
