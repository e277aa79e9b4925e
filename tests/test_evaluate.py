"""Retrieval metrics on hand-made similarity matrices with known answers (ties included)."""
import numpy as np
import pytest

from seje_sdk.errors import InputError
from trainer.evaluate import bag_metrics, format_table, rank_metrics, ranks_of_matches, selection_score


def _unit(rows):
    a = np.asarray(rows, dtype=np.float32)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def test_perfect_alignment_ranks_everything_first():
    x = np.eye(5, dtype=np.float32)
    m = rank_metrics(x, x)
    for d in ("image_to_recipe", "recipe_to_image"):
        assert m[d] == {"medr": 1.0, "r1": 100.0, "r5": 100.0, "r10": 100.0}


def test_hand_computed_ranks_both_directions():
    # Angles on a circle: img i at angle a_i, rec i at angle b_i; similarity = cos(a_i - b_j).
    img = _unit([[1, 0], [0, 1], [-1, 0]])
    rec = _unit([[1, 0.1], [1, -0.2], [-1, 0.05]])
    # img0 vs rec: rec0 (0.995), rec1 (0.981) , rec2 (-0.999) -> rank 1
    # img1 = (0,1): rec0 .0995, rec1 -.196, rec2 .05 -> true rec1 is last -> rank 3
    # img2 = (-1,0): rec2 highest -> rank 1
    assert ranks_of_matches(img, rec).tolist() == [1, 3, 1]
    # rec0 vs imgs: img0 .995 -> 1; rec1 vs imgs: img0 .981, img1 -.196, img2 -.981 -> rank 2; rec2 -> img2 1
    assert ranks_of_matches(rec, img).tolist() == [1, 2, 1]
    m = rank_metrics(img, rec)
    assert m["image_to_recipe"] == {"medr": 1.0, "r1": pytest.approx(200 / 3), "r5": 100.0, "r10": 100.0}
    assert m["recipe_to_image"]["medr"] == 1.0 and m["recipe_to_image"]["r1"] == pytest.approx(200 / 3)


def test_ties_are_pessimistic():
    # All similarities equal (a collapsed model): every true match ranks last, never first.
    x = np.ones((4, 3), dtype=np.float32) / np.sqrt(3)
    assert ranks_of_matches(x, x).tolist() == [4, 4, 4, 4]
    m = rank_metrics(x, x)["image_to_recipe"]
    assert m == {"medr": 4.0, "r1": 0.0, "r5": 100.0, "r10": 100.0}
    # A single tie with one other item: rank 2.
    img = _unit([[1, 0], [0, 1]])
    rec = _unit([[1, 0], [1, 0]])
    assert ranks_of_matches(img, rec).tolist() == [2, 2]


def test_even_count_median_and_recall_cut():
    # 12 items on a ring of angles so that ranks are 1..12 exactly in a known order.
    n = 12
    img = np.eye(n, dtype=np.float32)
    # rec i = e_i mixed with all e_j, j < shift, so that query i sees a known number of better items
    ranks_wanted = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
    sims = np.full((n, n), 0.0, dtype=np.float32)
    for i, r in enumerate(ranks_wanted):
        others = [j for j in range(n) if j != i][: r - 1]
        sims[i, others] = 0.9
        sims[i, i] = 0.5
    # ranks_of_matches only uses dot products: feed sims via identity queries.
    got = ranks_of_matches(img, sims.T.copy())
    assert got.tolist() == ranks_wanted.tolist()
    m = rank_metrics(img, sims.T.copy())["image_to_recipe"]
    assert m["medr"] == 6.5 and m["r1"] == pytest.approx(100 / 12) and m["r5"] == pytest.approx(500 / 12)
    assert m["r10"] == pytest.approx(1000 / 12)


def test_bags_cap_seed_and_std(capsys):
    rng = np.random.default_rng(0)
    img = _unit(rng.normal(size=(30, 8)))
    rec = _unit(img + 0.8 * rng.normal(size=(30, 8)))
    a = bag_metrics(img, rec, bag_size=1000, n_bags=3, seed=1)
    assert a["bag_size"] == 30 and a["requested_bag_size"] == 1000
    assert "capped" in capsys.readouterr().out
    # Bags of the whole set are permutations: identical metrics, zero std, equal to rank_metrics.
    full = rank_metrics(img, rec)
    assert a["image_to_recipe"]["r5"]["mean"] == pytest.approx(full["image_to_recipe"]["r5"])
    assert a["image_to_recipe"]["r5"]["std"] == pytest.approx(0.0)
    b1 = bag_metrics(img, rec, bag_size=10, n_bags=4, seed=3)
    b2 = bag_metrics(img, rec, bag_size=10, n_bags=4, seed=3)
    assert b1 == b2
    assert selection_score(b1) == pytest.approx(
        b1["image_to_recipe"]["r1"]["mean"] + 0.8 * b1["image_to_recipe"]["r5"]["mean"]
        + 0.6 * b1["image_to_recipe"]["r10"]["mean"])
    table = format_table([a, b1])
    assert "| 30* | image to recipe |" in table and "capped" in table


def test_bad_inputs_are_named():
    with pytest.raises(InputError, match="same shape"):
        rank_metrics(np.zeros((3, 4)), np.zeros((2, 4)))
    with pytest.raises(InputError, match="at least 2"):
        bag_metrics(np.zeros((1, 4)), np.zeros((1, 4)), 10)
