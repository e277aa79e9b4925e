"""Before training: which test recipes only words unseen in training tell apart.

The recipe encoder reads every word it did not see in training (fewer than `min_count` times:
Word2vec's vocabulary threshold) as one unknown token, so two recipes that differ only in such
words ("Brinjal 4" / "Brinjal 6", "Mango, ripe, kesar" / "Mango, ripe, gulabkhas") get the same
vector after training, and retrieval cannot tell them apart. The importer counts them from the
text alone, before hours of training, so that the collection can be fixed (more varied text,
more training rows) first. `seje-train eval` later measures the same on the trained vectors.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from typing import Iterable

from seje_sdk.text import tokenize

W2V_MIN_COUNT = 2  # the cpu preset's w2v_min_count (trainer.features.config)


def recipe_tokens(title: str, ingredients: list[str], instructions: list[str]) -> list[str]:
    """The recipe's words as the model tokenises them."""
    return tokenize(" \n ".join([title, *ingredients, *instructions]))


def unseen_word_collisions(train: Iterable[list[str]], test: Iterable[list[str]], min_count: int = W2V_MIN_COUNT,
                           top_words: int = 10) -> dict:
    """Test recipes whose words, with unseen ones masked, equal another test recipe's while their text differs."""
    counts: Counter = Counter()
    for tokens in train:
        counts.update(tokens)
    groups: dict[bytes, dict[bytes, Counter]] = {}
    n_test = 0
    for tokens in test:
        n_test += 1
        masked = [t if counts[t] >= min_count else "\0" for t in tokens]
        key = hashlib.blake2b("\n".join(masked).encode(), digest_size=12).digest()
        raw = hashlib.blake2b("\n".join(tokens).encode(), digest_size=12).digest()
        unseen = Counter(t for t in tokens if counts[t] < min_count)
        groups.setdefault(key, {}).setdefault(raw, Counter()).update({"\0n": 1, **unseen})
    colliding, words = 0, Counter()
    for texts in groups.values():
        if len(texts) > 1:
            shared = set.intersection(*(set(unseen) for unseen in texts.values()))
            for unseen in texts.values():
                colliding += unseen["\0n"]
                words.update({w: n for w, n in unseen.items() if w not in shared})  # the words that differ
    return {"min_count": min_count, "test_recipes": n_test, "recipes": colliding,
            "share": round(colliding / n_test, 4) if n_test else 0.0, "words": dict(words.most_common(top_words))}
