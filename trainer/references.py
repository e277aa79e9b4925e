"""Reference rows every retrieval number is shown beside, and the near-duplicate check.

- chance: a random ranking; R@k = k/N exactly, MedR = (N+1)/2.
- category oracle: knows each item's category (class 0 "background" counts as one category)
  and ranks the items of that category first, in random order. Its R@k is exact; its MedR
  (a median of random ranks) is the mean over seeded draws.
A model whose numbers do not clear the oracle's retrieves dish categories, not recipes.

Near-duplicates: the share of items whose vector has another item's vector at cosine >
NEAR_DUPLICATE_COSINE. A high share means the encoder maps distinct inputs to one point.
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

import numpy as np

RECALLS = (1, 5, 10)
DIRECTIONS = ("image_to_recipe", "recipe_to_image")
ORACLE_DRAWS = 200
NEAR_DUPLICATE_COSINE = 0.9999
NEAR_DUPLICATE_WARN = 0.05  # warn when more than 5% of the items have a near-duplicate


def chance_metrics(n: int) -> dict[str, float]:
    """Expected metrics of a uniformly random ranking of n items (percent recalls)."""
    return {"medr": (n + 1) / 2, **{f"r{k}": 100.0 * min(k, n) / n for k in RECALLS}}


def category_oracle_metrics(labels: np.ndarray, rng: np.random.Generator, draws: int = ORACLE_DRAWS) -> dict[str, float]:
    """Metrics of the category-only oracle on one set of pairs with these category labels.

    The match's rank is uniform on 1..m, m = items of its category in the set (itself included),
    so R@k = mean(min(k, m) / m) exactly; MedR is averaged over `draws` seeded samples.
    """
    labels = np.asarray(labels)
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    m = counts[inverse].astype(np.float64)
    out = {"medr": float(np.mean([np.median(np.floor(rng.random(len(m)) * m) + 1) for _ in range(draws)]))}
    out.update({f"r{k}": float(100.0 * np.mean(np.minimum(k, m) / m)) for k in RECALLS})
    return out


def reference_metrics(bag_labels: Sequence[np.ndarray], seed: int = 0) -> dict[str, dict[str, dict[str, float]]]:
    """Chance and the category oracle, averaged over the same bags as the model, both directions.

    Both are symmetric (an image and its recipe share the category), so the two directions agree.
    """
    rng = np.random.default_rng([seed, 1])
    oracle = [category_oracle_metrics(labels, rng) for labels in bag_labels]
    chance = [chance_metrics(len(labels)) for labels in bag_labels]
    rows = {}
    for name, runs in (("category_oracle", oracle), ("chance", chance)):
        mean = {m: float(np.mean([r[m] for r in runs])) for m in runs[0]}
        rows[name] = {d: dict(mean) for d in DIRECTIONS}
    return rows


def near_duplicate_partners(vectors: np.ndarray, threshold: float = NEAR_DUPLICATE_COSINE, chunk: int = 2048
                            ) -> np.ndarray:
    """Per row, the row nearest to it when their cosine exceeds `threshold`, else -1 (rows normalised here)."""
    v = np.asarray(vectors, dtype=np.float32)
    partners = np.full(len(v), -1, dtype=np.int64)
    if len(v) < 2:
        return partners
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    for start in range(0, len(v), chunk):
        sims = v[start:start + chunk] @ v.T
        rows = np.arange(sims.shape[0])
        sims[rows, rows + start] = -np.inf  # an item is not its own duplicate
        best = sims.argmax(axis=1)
        partners[start:start + chunk] = np.where(sims[rows, best] > threshold, best, -1)
    return partners


def near_duplicate_share(vectors: np.ndarray, threshold: float = NEAR_DUPLICATE_COSINE, chunk: int = 2048) -> float:
    """Share of rows with another row at cosine > threshold."""
    return float((near_duplicate_partners(vectors, threshold, chunk) >= 0).mean()) if len(vectors) else 0.0


def recipe_words(recipe: Any) -> list[str]:
    """The words of a Recipe record's title, ingredient lines and instructions, as the model tokenises them."""
    from trainer.data.unseen_words import recipe_tokens

    return recipe_tokens(recipe.title, recipe.ingredients, recipe.instructions)


def explain_recipe_duplicates(recipe_words: Sequence[Sequence[str]], partners: np.ndarray, vocab: Any,
                              examples: int = 3, top_words: int = 10) -> dict[str, Any]:
    """Why near-duplicate recipes collapsed: how many differ from their partner only in words outside
    `vocab` (the model sees them all as one unknown token), which words, and how many differ in known words."""
    counts = {"identical_words": 0, "only_unknown_words": 0, "known_words_differ": 0}
    unknown: Counter = Counter()
    shown = []
    for i in np.flatnonzero(partners >= 0):
        a, b = Counter(recipe_words[i]), Counter(recipe_words[partners[i]])
        differ = set((a - b) + (b - a))
        if not differ:
            counts["identical_words"] += 1
        elif all(w not in vocab for w in differ):
            counts["only_unknown_words"] += 1
            unknown.update(differ)
            if len(shown) < examples:
                shown.append({"recipe": " ".join(recipe_words[i][:8]), "partner": " ".join(recipe_words[partners[i]][:8]),
                              "unknown_words": sorted(differ)})
        else:
            counts["known_words_differ"] += 1
    return {"recipes": int((partners >= 0).sum()), **counts,
            "unknown_words": dict(unknown.most_common(top_words)), "examples": shown}


def near_duplicate_report(images: np.ndarray, recipes: np.ndarray, recipe_words: Sequence[Sequence[str]] | None = None,
                          vocab: Any = None) -> dict[str, Any]:
    """Near-duplicate shares of image and recipe vectors, with the threshold and the warning level.

    With each recipe's words and the model's vocabulary, `recipe_explained` says why the
    near-duplicate recipes collapsed (explain_recipe_duplicates).
    """
    partners = near_duplicate_partners(recipes)
    report = {"cosine_above": NEAR_DUPLICATE_COSINE, "warn_above_share": NEAR_DUPLICATE_WARN, "n": int(len(recipes)),
              "image": near_duplicate_share(images), "recipe": float((partners >= 0).mean()) if len(partners) else 0.0}
    if recipe_words is not None and vocab is not None:
        report["recipe_explained"] = explain_recipe_duplicates(recipe_words, partners, vocab)
    return report


def near_duplicate_warnings(report: dict[str, Any], where: str) -> list[str]:
    """One warning line per modality whose near-duplicate share is above the warning level."""
    out = []
    for modality in ("recipe", "image"):
        share = report[modality]
        if share > report["warn_above_share"]:
            out.append(f"warning: {share:.1%} of the {report['n']} {where} {modality} vectors have a near-duplicate "
                       f"(cosine > {report['cosine_above']}): the {modality} encoder maps distinct inputs to "
                       "almost the same point, so retrieval cannot tell them apart")
            if modality == "recipe" and "recipe_explained" in report:
                out.append(explanation_line(report["recipe_explained"]))
    return out


def explanation_line(explained: dict[str, Any]) -> str:
    """One sentence: how many near-duplicate recipes differ only in unknown words, and which words."""
    words = ", ".join(f"{w!r} x{n}" for w, n in explained["unknown_words"].items()) or "none"
    return (f"  of those {explained['recipes']} recipes, {explained['only_unknown_words']} differ from their nearest "
            f"recipe only in words outside the model's vocabulary (most frequent: {words}), "
            f"{explained['identical_words']} have the same words, {explained['known_words_differ']} differ in known "
            "words; unknown words all read as one token: train on data that contains them, or build the features with "
            "`word_vectors: fasttext` (subword vectors: unseen ingredient words, and title words with title_terms, "
            "get a vector from their letters; numbers and instruction words stay unknown)")
