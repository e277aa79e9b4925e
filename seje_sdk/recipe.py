"""Raw recipe -> recipe-encoder inputs, exactly as training built them.

Steps (each the shared implementation, imported, never copied): validate_recipe (the one check
of a recipe's fields, used by the SDK, the service and the corpus reader) -> split_sentences(instructions)
-> encode_sentences with the bundle's text limits -> term_features (seje_sdk.terms: tagger
entities + title words + lexicon actions/utensils, ranked and pooled from the bundle's tables).
The result feeds the recipe graph's `sentence_tokens`, `sentence_lengths` and `term_feature` inputs.

A recipe may lack any two of its three fields: a title alone is a query. A missing part is
empty, never invented: no instructions -> one padded sentence of length 0 (the graph's instruction
branch gives zeros, as training's field dropout does); no ingredients -> no entity terms.

Example:
    >>> recipes = parse_recipes([{"title": "Toast", "ingredients": ["2 slices bread"], "instructions": ["Toast the bread."]}])
    >>> recipes[0].title
    'Toast'
    >>> parse_recipes([{"title": "spicy chicken curry"}])[0].ingredients
    ()
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from seje_sdk.errors import InputError
from seje_sdk.text import RecipeText, Vocab, encode_sentences, split_sentences, tokenize

TaggerFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
FIELDS = ("title", "ingredients", "instructions")
_SHAPES = 'a string, a list of strings, or a list of {"text": ...} items'


def validate_recipe(obj: Any, where: str = "recipe") -> RecipeText:
    """A recipe dict (Recipe1M layer1 or plain) -> RecipeText; any wrong type is an InputError naming the field and item.

    Each field may be a string, a list of strings or a list of {"text": ...} items; missing or None
    fields are empty; other keys (id, url, ...) are ignored. At least one field must hold text.
    """
    if isinstance(obj, RecipeText):
        recipe = obj
    elif isinstance(obj, dict):
        recipe = RecipeText(
            title=" ".join(field_lines(obj.get("title"), f"{where}.title")),
            ingredients=field_lines(obj.get("ingredients"), f"{where}.ingredients", split=str.splitlines),
            instructions=field_lines(obj.get("instructions"), f"{where}.instructions", split=split_sentences),
        )
    else:
        raise InputError(f"{where}: expected a dict with title/ingredients/instructions, got {type(obj).__name__}")
    if not (recipe.title.strip() or recipe.ingredients or recipe.instructions):
        raise InputError(f"{where}: empty recipe (no title, ingredients or instructions)")
    return recipe


def field_lines(value: Any, where: str, split: Callable[[str], list[str]] = lambda s: [s]) -> tuple[str, ...]:
    """One field's non-empty text lines; a single string is split by `split` (lines, sentences)."""
    if value is None:
        return ()
    if isinstance(value, (str, bytes)):
        return tuple(t.strip() for t in split(text_value(value, where)) if t.strip())
    if not isinstance(value, (list, tuple)):
        raise InputError(f"{where}: expected {_SHAPES}, got {type(value).__name__}")
    out = []
    for i, item in enumerate(value):
        if isinstance(item, dict):
            if "text" not in item:
                raise InputError(f"{where}[{i}]: a dict item needs a \"text\" key (got keys {sorted(map(str, item))[:5]})")
            item = item["text"]
            text = text_value(item, f"{where}[{i}].text")
        else:
            text = text_value(item, f"{where}[{i}]")
        if text.strip():
            out.append(text.strip())
    return tuple(out)


def text_value(value: Any, where: str) -> str:
    """A text value as str (bytes must be UTF-8); anything else is an InputError naming `where`."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InputError(f"{where}: not valid UTF-8 ({e})") from e
    if not isinstance(value, str):
        raise InputError(f"{where}: expected a string, got {type(value).__name__}")
    return value


def parse_recipe(obj: Any, where: str) -> RecipeText:
    """One recipe from a layer1 dict, a dict of plain string lists, a RecipeText, or a list of instruction strings."""
    if isinstance(obj, (list, tuple)) and all(isinstance(s, (str, bytes)) for s in obj):
        obj = {"instructions": list(obj)}
    elif isinstance(obj, str):
        obj = {"instructions": split_sentences(obj)}
    return validate_recipe(obj, where=where)


def parse_recipes(items: Sequence[Any], where: str = "recipes", start: int = 0) -> list[RecipeText]:
    """parse_recipe over a batch, naming each failure by its batch position (and id when it has one)."""
    return [parse_recipe(obj, _label(where, start + i, obj)) for i, obj in enumerate(items)]


def _label(where: str, pos: int, obj: Any) -> str:
    rid = obj.get("id") if isinstance(obj, dict) else None
    return f"{where}[{pos}]" + (f" (id {rid})" if rid is not None else "")


def check_known_tokens(recipe: RecipeText, vocab: Vocab, where: str, title_terms: bool = True) -> None:
    """Refuse a recipe none of whose read words the model knows: its embedding would be meaningless.

    `title_terms=False` (bundles whose model does not read titles): title words do not count.
    """
    title = (recipe.title,) if title_terms else ()
    words = [t for text in (*title, *recipe.ingredients, *recipe.instructions) for t in tokenize(text)]
    if not any(w in vocab for w in words):
        if not title_terms and recipe.title and not (recipe.ingredients or recipe.instructions):
            raise InputError(f"{where}: a title alone is not a query for this bundle: its model does not read titles "
                             "(features built before title_terms); add ingredients or instructions, or use a bundle "
                             "exported from a run whose features have title_terms")
        sample = " ".join(words[:8]) or "(no words)"
        raise InputError(f"{where}: none of its words is in the model's vocabulary ({sample!r}); is it a recipe in English?")


def recipe_inputs(
    recipes: Sequence[RecipeText],
    tables: Any,
    max_sentences: int,
    max_tokens: int,
    tagger_fn: TaggerFn,
    ranker: str = "tfidf",
    bert_fn: Callable | None = None,
    title_terms: bool = False,
    slots: Any = None,
) -> dict[str, np.ndarray]:
    """Feeds of the recipe graph for a batch: sentence_tokens (B,S,L), sentence_lengths (B,S), term_feature (B,300).

    A recipe without instructions gets all-zero lengths (S >= 1), which the graph reads as "no instructions".
    `slots` (seje_sdk.sentences) gives the sentence feeds of MiniLM bundles instead: word-piece slots
    (SlotEncoder) or the sentence graph's vectors (SentenceVectors: sentence_vectors, num_sentences).
    """
    from seje_sdk.terms import term_features

    if slots is not None:
        feeds = slots.feeds(recipes)
    else:
        sentences = [split_sentences(r.instructions) for r in recipes]
        tokens, lengths = encode_sentences(sentences, tables.vocab, max_sentences=max_sentences, max_tokens=max_tokens)
        feeds = {"sentence_tokens": tokens, "sentence_lengths": lengths}
    term = term_features(list(recipes), tables, tagger_fn, ranker=ranker, bert_fn=bert_fn, title_terms=title_terms)
    return {**feeds, "term_feature": np.asarray(term, dtype=np.float32)}
