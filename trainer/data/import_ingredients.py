"""Collection-level normalisation of derived ingredient names: one ingredient, one name.

Line rules (trainer.data.ingredient_names) keep what a line says: "land o'lakes unsalted butter",
"garlic cloves", "lean ground beef". As entities for the tagger and the term features these split
one ingredient into many rarely seen names. The recipes themselves say which part of a name is the
ingredient: after listing "3 garlic cloves" or "1/2 cup unsalted butter" their instructions say
"add the garlic", "melt the butter"; after "1 can coconut milk" or "2 tbsp brown sugar" they say
"coconut milk" and "brown sugar". So, over the training recipes:
  1. each line's *referred name* is the longest part of its derived name (contiguous words, the
     head-most first among equally long ones) that its recipe's instructions mention, plurals
     folded ("tomatoes" ~ "tomato");
  2. a name maps to the referred name most of its lines vote for, when that referred name is
     itself a line's name at least `min_count` times (an ingredient, not "puree" or "sheets" of
     "puree the soup" or "baking sheets"); a shorter part does not vote when another line of the
     recipe contains it ("tomato" with "tomato paste" and "diced tomatoes");
  3. names no instruction mentions fall back to `shared_heads`: a leading word is dropped while
     the rest is a frequent name and the word alone is not;
  4. mappings are followed to the end ("lean ground beef" -> "ground beef" -> "beef" only when
     "ground beef" lines themselves vote for "beef");
  5. misspellings of a far more frequent name take its spelling ("garlick" -> "garlic"); the
     line still tags, as the tagger reads misspelt words (trainer.features.tagger).
A mapped name is always words of the line (or their misspellings), so the tagger can still label it. Counts are over
distinct names, so memory stays small for a million rows.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import takewhile

from seje_sdk.text import tokenize
from trainer.data.ingredient_names import misspelt, singular

MIN_COUNT = 3
TYPO_RATIO = 10  # a spelling is corrected when the right one is used 10 times as often


def _folded(text: str) -> str:
    return " " + " ".join(singular(t) for t in tokenize(text)) + " "


def sub_phrases(name: str) -> list[str]:
    """Contiguous word runs of `name`, longest first, the head-most (rightmost) first among equals."""
    words = name.split()
    return [" ".join(words[i : i + n]) for n in range(len(words), 0, -1) for i in range(len(words) - n, -1, -1)]


def referred_name(name: str, instructions_folded: str) -> str:
    """The longest part of `name` that the folded instructions mention, or "" when none does."""
    for phrase in sub_phrases(name):
        if (folded := _folded(phrase)).strip() and folded in instructions_folded:
            return phrase
    return ""


def shared_heads(counts: Counter, min_count: int = MIN_COUNT) -> dict[str, str]:
    """Frequency fallback: name -> its shorter form when that form is itself a frequent name.

    A leading word is dropped while the rest is a name at least `min_count` times and the word
    alone is not ("unsalted butter", "domino white sugar" -> "butter", "white sugar";
    "coconut milk" stays when "coconut" is a name).
    """
    out = {}
    for name in counts:
        words = name.split()
        while len(words) > 1 and counts[" ".join(words[1:])] >= min_count and counts[words[0]] < min_count:
            words = words[1:]
        if len(words) < len(name.split()):
            out[name] = " ".join(words)
    return out


def spelling_fixes(counts: Counter, min_count: int = MIN_COUNT) -> dict[str, str]:
    """Names -> the far more frequent name they misspell word by word ("garlick cloves" -> "garlic cloves").

    A word is corrected to the most frequent similar word with the same first letter that is used
    TYPO_RATIO times as often; the cost grows with distinct words, not with rows.
    """
    words: Counter = Counter()
    for name, n in counts.items():
        for word in name.split():
            words[word] += n
    by_letter = defaultdict(list)
    for word, n in words.most_common():
        by_letter[word[0]].append((word, n))
    fixed: dict[str, str] = {}

    def fix(word: str) -> str:
        if word not in fixed:
            enough = max(min_count, TYPO_RATIO * words[word])
            common = takewhile(lambda item: item[1] >= enough, by_letter[word[0]])
            fixed[word] = next((w for w, _ in common if misspelt(word, w)), word)
        return fixed[word]

    out = {}
    for name, n in counts.items():
        right = " ".join(fix(w) for w in name.split())
        if right != name and counts[right] >= max(min_count, n):
            out[name] = right
    return out


@dataclass
class NameCollector:
    """Counts over training recipes: derived names, and which part of each name the instructions use."""

    min_count: int = MIN_COUNT
    names: Counter = field(default_factory=Counter)
    votes: Counter = field(default_factory=Counter)  # (name, referred name) -> lines

    def add(self, names: list[str], instructions: list[str]) -> None:
        """Count one recipe's derived names (one per ingredient line) against its instructions.

        A shorter part votes only when no other line of the recipe contains it: "tomato" in the
        instructions of a recipe with "tomato paste" and "diced tomatoes" may mean either.
        """
        folded = _folded(" . ".join(instructions))
        names = [n for n in names if n]
        lines = [_folded(n) for n in names]
        for i, name in enumerate(names):
            self.names[name] += 1
            referred = referred_name(name, folded)
            if referred == name or (referred and not any(_folded(referred) in o for o in lines[:i] + lines[i + 1:])):
                self.votes[name, referred] += 1

    def mapping(self) -> dict[str, str]:
        """name -> canonical name, for the names that change (steps 2-5 of the module docstring)."""
        best: dict[str, tuple[int, int, str]] = {}
        for (name, referred), n in self.votes.items():
            if referred == name or self.names[referred] >= self.min_count:
                best[name] = max(best.get(name, (0, 0, name)), (n, len(referred.split()), referred))
        step = {name: target for name, (_, _, target) in best.items() if target != name}
        fallback = shared_heads(self.names, self.min_count)
        step.update({name: target for name, target in fallback.items() if name not in best})
        step.update(spelling_fixes(self.names, self.min_count))
        canonical = {name: _follow(step, name) for name in step}
        return {name: target for name, target in canonical.items() if target != name}


def _follow(step: dict[str, str], name: str) -> str:
    """Apply `step` until the name stops changing (a step shortens a name or fixes a misspelling)."""
    seen = {name}
    while (name := step.get(name, name)) not in seen:
        seen.add(name)
    return name
