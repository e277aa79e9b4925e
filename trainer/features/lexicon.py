"""Cooking actions and utensils: a lexicon learned offline from the training instructions.

Instead of a part-of-speech tagger (none works offline without a model download), two
positional cues of recipe English are counted over the training instructions, entities removed:
- actions: recipe steps are imperative, so the verb opens the clause ("Preheat the oven",
  "..., then stir in the flour"). A token is an action when it opens a clause often enough
  (at least min_count times and in at least min_ratio of its occurrences).
- utensils: the head noun after "in/into/on/onto/from/with/over/under a|an|the [adjectives]"
  ("in a large bowl", "on the baking sheet"), with the same two thresholds, and seen at least
  min_count times with an indefinite article: a cook puts things "in a bowl" but stirs "the
  mixture", which keeps mixtures and sauces out. "to" is left out of the prepositions because
  "bring to a boil" is its commonest use.
Numbers, stop words and ingredient entities never enter the lexicon.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Iterable, Sequence

from seje_sdk.terms import join_phrases
from seje_sdk.text import normalize_text, tokenize

CLAUSE_SPLIT = re.compile(r"[.;,:!?()]|\bthen\b|\band\b|\buntil\b|\bwhile\b")
PREPOSITIONS = frozenset({"in", "into", "on", "onto", "from", "with", "over", "under"})
INDEFINITE = frozenset({"a", "an"})
ARTICLES = frozenset({"a", "an", "the", "your", "each", "another"})
STOP = frozenset(
    """a an the and or of to in into on onto for from with over under at by as is are be it its this that
    these those then until while about each all some any more less very well your you if not no
    until when after before so up down out off minutes minute hours hour seconds degrees f c""".split()
)
MAX_MODIFIERS = 2  # "a large heavy pot": the head noun is at most 3 tokens after the article


def _clauses(sentence: str) -> list[str]:
    return [c for c in CLAUSE_SPLIT.split(normalize_text(sentence)) if c.strip()]


def _usable(token: str, entities: frozenset[str]) -> bool:
    return token not in STOP and token not in entities and not token[0].isdigit() and len(token) > 2


def learn_lexicon(
    instructions: Iterable[Sequence[str]],
    entities: frozenset[str],
    phrases: dict[tuple[str, ...], str],
    min_count: int = 3,
    min_ratio: float = 0.3,
) -> dict[str, list[str]]:
    """{"actions": [...], "utensils": [...]} sorted by frequency, learned from training instructions."""
    total, opens, after_prep, indefinite = Counter(), Counter(), Counter(), Counter()
    for recipe in instructions:
        for sentence in recipe:
            for clause in _clauses(sentence):
                tokens = join_phrases(tokenize(clause), phrases)
                total.update(tokens)
                if tokens and _usable(tokens[0], entities):
                    opens[tokens[0]] += 1
                heads = _utensil_heads(tokens)
                after_prep.update(h for h, _ in heads)
                indefinite.update(h for h, article in heads if article in INDEFINITE)
    actions = _select(opens, total, entities, min_count, min_ratio)
    utensils = [t for t in _select(after_prep, total, entities, min_count, min_ratio, exclude=set(actions))
                if indefinite[t] >= min_count]
    return {"actions": actions, "utensils": utensils}


def _utensil_heads(tokens: Sequence[str]) -> list[tuple[str, str]]:
    """(head noun, article) of "prep article [modifiers] noun" phrases: the last word before a stop word or the clause end."""
    heads = []
    for i in range(len(tokens) - 2):
        if tokens[i] in PREPOSITIONS and tokens[i + 1] in ARTICLES:
            span = []
            for tok in tokens[i + 2 : i + 3 + MAX_MODIFIERS]:
                if tok in STOP or tok[0].isdigit():
                    break
                span.append(tok)
            if span:
                heads.append((span[-1], tokens[i + 1]))
    return heads


def _select(
    hits: Counter, total: Counter, entities: frozenset[str], min_count: int, min_ratio: float, exclude: set[str] = frozenset()
) -> list[str]:
    return [
        t for t, n in hits.most_common()
        if n >= min_count and n / total[t] >= min_ratio and _usable(t, entities) and t not in exclude
    ]
