"""Typed text as a query: "spicy chicken curry" -> a title-only recipe, with the words the model does not know.

The text goes through the bundle's own tokeniser and vocabulary (seje_sdk.text): a word outside the
vocabulary has no vector and cannot steer the search, so it is reported back (SDK result, CLI, JSON)
rather than silently ignored; text with no known word at all is refused. The text is embedded as a
recipe's title (benchmarks/partial_queries.py measured title-only against title + the text as an
ingredient line; docs/free-text.md), so only bundles whose model reads titles accept it.

Example:
    >>> from seje_sdk.text import Vocab
    >>> q = text_query("Spicy chicken curry", Vocab.build(["chicken", "curry"]))
    >>> q.recipe, q.unknown_words
    ({'title': 'Spicy chicken curry'}, ['spicy'])
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from seje_sdk.errors import InputError
from seje_sdk.recipe import text_value
from seje_sdk.text import Vocab, normalize_text, tokenize

MAX_TEXT_CHARS = 1000  # a typed query, not a document


@dataclass(frozen=True)
class TextQuery:
    """A typed query: its text, the recipe dict embedded for it, its words and those outside the vocabulary."""

    text: str
    recipe: dict[str, Any]
    words: list[str] = field(default_factory=list)
    unknown_words: list[str] = field(default_factory=list)


def text_query(text: Any, vocab: Vocab, where: str = "text") -> TextQuery:
    """Check typed text and make it a title-only recipe; InputError when it is not text or no word is known."""
    text = " ".join(text_value(text, where).split())
    if not text:
        raise InputError(f"{where}: empty text; type a few words such as \"chicken curry\"")
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(f"{where}: {len(text)} characters, the limit is {MAX_TEXT_CHARS}; a few words find photos best")
    words = tokenize(normalize_text(text))
    unknown = list(dict.fromkeys(w for w in words if w not in vocab and not w[0].isdigit()))
    if not any(w in vocab for w in words):
        raise InputError(f"{where}: none of the words {' '.join(words) or text!r} is in the model's vocabulary; "
                         "try dish or ingredient names in English")
    return TextQuery(text, {"title": text}, words, unknown)


def text_queries(texts: str | Sequence[Any], vocab: Vocab, reads_titles: bool = True) -> list[TextQuery]:
    """text_query over one string or a list of them, each failure named by its position (text[2]).

    `reads_titles`: the bundle's Bundle.title_terms; a model that ignores titles cannot take text.
    """
    if not reads_titles:
        raise InputError("text: this bundle's model does not read titles (its features were built before "
                         "title_terms), so typed text cannot steer it; search with a recipe, or re-export from a "
                         "run whose features have title_terms: true")
    if isinstance(texts, (str, bytes)):
        return [text_query(texts, vocab)]
    if not isinstance(texts, (list, tuple)) or not texts:
        raise InputError(f"text: pass a string or a non-empty list of strings, got {type(texts).__name__}")
    return [text_query(t, vocab, f"text[{i}]") for i, t in enumerate(texts)]
