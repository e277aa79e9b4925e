"""A title with one word misspelt so that the SDK's Speller reads it back (for typed-text tests)."""
from __future__ import annotations

from seje_sdk.text import Vocab, tokenize
from seje_sdk.text_query import Speller


def misspelt(title: str, vocab: Vocab) -> tuple[str, str, str]:
    """(the title with one typo, the typo, the word): the first word whose dropped third letter the Speller undoes."""
    speller, words = Speller(vocab), tokenize(title)
    for i, word in enumerate(words):
        typo = word[:2] + word[3:]
        if len(word) >= 5 and word.isalpha() and word in vocab and typo not in vocab and speller(typo) == word:
            return " ".join(words[:i] + [typo] + words[i + 1:]), typo, word
    raise AssertionError(f"no word of {title!r} can be misspelt and read back")
