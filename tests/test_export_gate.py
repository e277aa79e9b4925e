"""The export gate's statistics: paired bootstrap intervals of the R@1 difference, on hand-built cases."""
from __future__ import annotations

import numpy as np
import pytest

from export.gate import Bootstrap, confidently_worse, hits_at_1, paired_interval, retrieval_intervals


def _hits(n: int, hit_idx) -> np.ndarray:
    out = np.zeros(n, bool)
    out[list(hit_idx)] = True
    return out


def test_identical_rankings_give_the_interval_zero_zero():
    ref = _hits(500, range(0, 500, 3))
    interval = paired_interval(ref, ref.copy())
    assert (interval.diff, interval.low, interval.high, interval.wins, interval.losses) == (0.0, 0.0, 0.0, 0, 0)
    assert not confidently_worse(interval, 1.0)


def test_every_query_lost_is_minus_100_with_no_spread():
    interval = paired_interval(np.ones(40, bool), np.zeros(40, bool))
    assert (interval.diff, interval.low, interval.high) == (-100.0, -100.0, -100.0)
    assert confidently_worse(interval, 1.0)


def test_clearly_worse_variant_is_refused():
    # 1,000 queries: the candidate loses 100 of the reference's hits and gains 10 -> -9 points.
    ref = _hits(1000, range(300))
    cand = _hits(1000, list(range(100, 300)) + list(range(500, 510)))
    interval = paired_interval(ref, cand)
    assert interval.diff == pytest.approx(-9.0) and (interval.wins, interval.losses) == (10, 100)
    # Normal approximation of the paired difference: sd = sqrt(p_w + p_l - (p_w - p_l)^2) / sqrt(n).
    sd = 100 * np.sqrt(0.11 - 0.09 ** 2) / np.sqrt(1000)
    assert interval.low == pytest.approx(-9.0 - 1.96 * sd, abs=0.3)
    assert interval.high == pytest.approx(-9.0 + 1.96 * sd, abs=0.3)
    assert confidently_worse(interval, 1.0)


def test_tiny_noisy_difference_is_accepted():
    # 598 queries (the 2,000-recipe run): 25 lost, 20 gained -> -0.8 points, well inside the noise.
    ref = _hits(598, range(100))
    cand = _hits(598, list(range(25, 100)) + list(range(200, 220)))
    interval = paired_interval(ref, cand)
    assert interval.diff == pytest.approx(-500 / 598)
    assert interval.low < -1.0 < interval.high and interval.high > 0
    assert not confidently_worse(interval, 1.0)


def test_one_item_of_a_small_bag_is_noise_but_all_items_are_not():
    ref = np.ones(4, bool)
    assert not confidently_worse(paired_interval(ref, _hits(4, range(3))), 1.0)  # 75 vs 100 on 4 pairs
    assert confidently_worse(paired_interval(ref, np.zeros(4, bool)), 1.0)


def test_interval_is_deterministic_and_narrows_with_confidence():
    ref, cand = _hits(300, range(120)), _hits(300, range(10, 125))
    a, b = paired_interval(ref, cand), paired_interval(ref, cand)
    assert a == b
    narrow = paired_interval(ref, cand, Bootstrap(confidence=0.5))
    assert a.low <= narrow.low <= narrow.high <= a.high


def test_hits_and_intervals_follow_the_embeddings():
    eye = np.eye(5, dtype=np.float32)
    swapped = eye[[1, 0, 2, 3, 4]]  # recipes 0 and 1 swapped: both lose their rank-1 match
    assert hits_at_1(eye, swapped).tolist() == [False, False, True, True, True]
    intervals = retrieval_intervals({"image": eye, "recipe": eye}, {"image": eye, "recipe": swapped})
    for direction in ("image_to_recipe", "recipe_to_image"):
        assert intervals[direction].diff == -40.0 and intervals[direction].losses == 2


def test_mismatched_hits_are_refused():
    with pytest.raises(ValueError, match="equal non-empty"):
        paired_interval(np.ones(3, bool), np.ones(4, bool))


def _outputs(images: np.ndarray, categories: np.ndarray) -> dict[str, np.ndarray]:
    return {"image": images, "recipe": np.eye(len(images), dtype=np.float32), "tagger": np.ones((2, 3), np.float32),
            "category": categories}


def test_fp16_cosine_bound_skips_flipped_images_but_caps_the_flip_rate():
    from export.parity import ParityError, verify_parity

    eye = np.eye(100, dtype=np.float32)
    classes = np.arange(100) % 7
    moved = eye.copy()
    moved[5] = (eye[5] + 0.3 * eye[6]) / np.linalg.norm(eye[5] + 0.3 * eye[6])  # cosine 0.958, still ranks first
    one_flip = classes.copy()
    one_flip[5] = 0 if classes[5] else 1
    report = verify_parity(_outputs(eye, classes), {"v": ("fp16", _outputs(moved, one_flip))})
    record = report["variants"]["v"]
    assert record["passed"] and record["category_flip_rate"] == 0.01
    assert record["image"]["cos_min"] < 0.96 and record["image"]["cos_min_same_category"] == pytest.approx(1.0)
    # The same move without a flip is numerical error: refused by the per-item bound.
    with pytest.raises(ParityError, match="image cos_min_same_category 0.95"):
        verify_parity(_outputs(eye, classes), {"v": ("fp16", _outputs(moved, classes))})
    # Three flips of 100 exceed the 2% cap even though every other item matches.
    many = classes.copy()
    many[:3] = (classes[:3] + 1) % 7
    with pytest.raises(ParityError, match=r"category flips 3.0% > 2%"):
        verify_parity(_outputs(eye, classes), {"v": ("fp16", _outputs(eye, many))})
