"""Raw recipe -> recipe-encoder inputs, exactly as training built them.

Steps (each the shared implementation, imported, never copied): RecipeText.from_any ->
split_sentences(instructions) -> encode_sentences with the bundle's text limits ->
term_features (seje_sdk.terms: tagger entities + lexicon actions/utensils, ranked and pooled
from the bundle's tables). The result feeds the recipe graph's `sentence_tokens`,
`sentence_lengths` and `term_feature` inputs.

Example:
    >>> recipes = parse_recipes([{"title": "Toast", "ingredients": ["2 slices bread"], "instructions": ["Toast the bread."]}])
    >>> recipes[0].title
    'Toast'
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from seje_sdk.errors import InputError
from seje_sdk.text import RecipeText, Vocab, encode_sentences, split_sentences, tokenize

TaggerFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def parse_recipe(obj: Any, where: str) -> RecipeText:
    """One recipe from a layer1 dict, a dict of plain string lists, a RecipeText, or a list of instruction strings."""
    if isinstance(obj, (list, tuple)) and all(isinstance(s, (str, bytes)) for s in obj):
        obj = {"instructions": list(obj)}
    elif isinstance(obj, str):
        obj = {"instructions": split_sentences(obj)}
    return RecipeText.from_any(obj, where=where)


def parse_recipes(items: Sequence[Any], where: str = "recipes", start: int = 0) -> list[RecipeText]:
    """parse_recipe over a batch, naming each failure by its batch position (and id when it has one)."""
    return [parse_recipe(obj, _label(where, start + i, obj)) for i, obj in enumerate(items)]


def _label(where: str, pos: int, obj: Any) -> str:
    rid = obj.get("id") if isinstance(obj, dict) else None
    return f"{where}[{pos}]" + (f" (id {rid})" if rid is not None else "")


def check_known_tokens(recipe: RecipeText, vocab: Vocab, where: str) -> None:
    """Refuse a recipe none of whose words the model knows: its embedding would be meaningless."""
    words = [t for text in (recipe.title, *recipe.ingredients, *recipe.instructions) for t in tokenize(text)]
    if not any(w in vocab for w in words):
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
) -> dict[str, np.ndarray]:
    """Feeds of the recipe graph for a batch: sentence_tokens (B,S,L), sentence_lengths (B,S), term_feature (B,300)."""
    from seje_sdk.terms import term_features

    sentences = [split_sentences(r.instructions) for r in recipes]
    tokens, lengths = encode_sentences(sentences, tables.vocab, max_sentences=max_sentences, max_tokens=max_tokens)
    term = term_features(list(recipes), tables, tagger_fn, ranker=ranker, bert_fn=bert_fn)
    return {"sentence_tokens": tokens, "sentence_lengths": lengths, "term_feature": np.asarray(term, dtype=np.float32)}
