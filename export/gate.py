"""Retrieval gate: is an exported variant confidently worse than PyTorch, or only noisily different?

R@1 on a held-out set of N pairs moves in steps of 100/N points, so a gate on the raw
difference fails or passes by which items were sampled (one item is 1.6 points on 64 pairs).
The gate here compares the two rankings query by query (paired) and bootstraps the mean
difference of R@1 hits: a variant is refused only when the whole confidence interval lies
below the allowed drop, i.e. when the data say it is worse by more than the allowance.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DIRECTIONS = ("image_to_recipe", "recipe_to_image")


@dataclass(frozen=True)
class Bootstrap:
    """Paired bootstrap settings: resamples, two-sided confidence level, seed (the gate is deterministic)."""

    resamples: int = 10_000
    confidence: float = 0.95
    seed: int = 0


@dataclass(frozen=True)
class Interval:
    """Candidate minus reference R@1 in points: observed value and its bootstrap interval."""

    diff: float
    low: float
    high: float
    wins: int  # queries the candidate ranks first and the reference does not
    losses: int  # queries the reference ranks first and the candidate does not
    n: int

    def as_dict(self) -> dict[str, float | int]:
        return {"diff": self.diff, "low": self.low, "high": self.high, "wins": self.wins, "losses": self.losses,
                "n": self.n}


def hits_at_1(query: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """Per query i: does gallery[i] rank first (ties in its favour, as trainer.evaluate's metrics)?"""
    from trainer.evaluate import ranks_of_matches

    return ranks_of_matches(query, gallery) == 1


def paired_interval(reference_hits: np.ndarray, candidate_hits: np.ndarray, cfg: Bootstrap = Bootstrap()) -> Interval:
    """Bootstrap interval of mean(candidate_hits - reference_hits) in R@1 points, resampling queries in pairs.

    Each query's difference is +1 (win), -1 (loss) or 0, so a resample of n queries is fully
    described by its counts of wins and losses: drawing those counts from a multinomial is the
    same bootstrap as drawing n query indices, at a cost independent of n.
    """
    ref = np.asarray(reference_hits, dtype=bool)
    cand = np.asarray(candidate_hits, dtype=bool)
    if ref.shape != cand.shape or ref.ndim != 1 or len(ref) == 0:
        raise ValueError(f"hits must be two equal non-empty 1-d arrays, got {ref.shape} and {cand.shape}")
    n = len(ref)
    wins, losses = int((cand & ~ref).sum()), int((ref & ~cand).sum())
    rng = np.random.default_rng(cfg.seed)
    counts = rng.multinomial(n, [wins / n, losses / n, 1 - (wins + losses) / n], size=cfg.resamples)
    diffs = 100.0 * (counts[:, 0] - counts[:, 1]) / n
    tail = 100.0 * (1 - cfg.confidence) / 2
    low, high = np.percentile(diffs, [tail, 100.0 - tail])
    return Interval(100.0 * (wins - losses) / n, float(low), float(high), wins, losses, n)


def retrieval_intervals(reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray],
                        cfg: Bootstrap = Bootstrap()) -> dict[str, Interval]:
    """Paired R@1 intervals, both directions, of candidate vs reference {"image", "recipe"} embeddings."""
    out = {}
    for direction in DIRECTIONS:
        q, g = ("image", "recipe") if direction == "image_to_recipe" else ("recipe", "image")
        out[direction] = paired_interval(hits_at_1(reference[q], reference[g]), hits_at_1(candidate[q], candidate[g]),
                                         cfg)
    return out


def confidently_worse(interval: Interval, allowed_drop: float) -> bool:
    """True when even the interval's upper end loses more than `allowed_drop` R@1 points."""
    return interval.high < -allowed_drop
