"""benchmarks.title_ceiling: ties count against the match, and knowing the dish can only lift a title's photo."""
from __future__ import annotations

import numpy as np

from benchmarks.title_ceiling import ceiling, ranks


def test_ranks_count_ties_against_the_match():
    scores = np.array([[0.5, 0.5, 0.1], [0.9, 0.2, 0.1], [0.0, 0.0, 0.3]])
    assert ranks(scores).tolist() == [2, 2, 1]


def test_true_dish_first_never_ranks_worse_than_the_text_encoder_alone(tiny_run):
    report = ceiling(tiny_run, bag_size=8, n_bags=3, seed=0)
    rows = report["rows"]
    text, perfect = rows["text encoder"], rows["text encoder, photos of the true dish first (a perfect photo classifier)"]
    assert perfect["medr"] <= text["medr"] and perfect["r1"] >= text["r1"] and perfect["r10"] >= text["r10"]
    assert set(rows) >= {"category-oracle", "chance"} and 0.0 <= report["photo_classifier_top1"] <= 1.0
