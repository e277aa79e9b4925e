"""Retrieval metrics on hand-made similarity matrices with known answers (ties included)."""
import numpy as np
import pytest

from seje_sdk.errors import InputError
from trainer.evaluate import bag_metrics, describe_plan, format_table, rank_metrics, ranks_of_matches, selection_score


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


def test_ties_under_both_rules():
    # All similarities equal (a collapsed model): ties in the match's favour rank it first (the
    # references' rule), ties against rank it last; the tie count says which case this is.
    x = np.ones((4, 3), dtype=np.float32) / np.sqrt(3)
    assert ranks_of_matches(x, x).tolist() == [1, 1, 1, 1]
    assert ranks_of_matches(x, x, ties="against").tolist() == [4, 4, 4, 4]
    assert rank_metrics(x, x, ties="against")["image_to_recipe"] == {"medr": 4.0, "r1": 0.0, "r5": 100.0, "r10": 100.0}
    bags = bag_metrics(x, x, bag_size=10)
    assert bags["tied_queries"] == {"image_to_recipe": 4, "recipe_to_image": 4}
    assert bags["image_to_recipe"]["r1"] == {"mean": 100.0} and bags["ties_against"]["image_to_recipe"]["r1"] == {"mean": 0.0}
    assert selection_score(bags) == 0.8 * 100 + 0.6 * 100  # model selection counts ties against the match
    img = _unit([[1, 0], [0, 1]])
    rec = _unit([[1, 0], [1, 0]])
    assert ranks_of_matches(img, rec).tolist() == [1, 1] and ranks_of_matches(img, rec, "against").tolist() == [2, 2]
    with pytest.raises(InputError, match="ties must be one of"):
        ranks_of_matches(img, rec, ties="random")


def _reference_ranks(query, gallery):
    """An independent implementation in the style of SEJE's test.py: Euclidean distances, sorted,
    the match's position = the first position holding its distance (ties in its favour); the
    pessimistic rank counts every distance <= the match's."""
    favour, against = [], []
    for i in range(len(query)):
        dist = [float(np.linalg.norm(query[i].astype(np.float64) - gallery[j].astype(np.float64)))
                for j in range(len(gallery))]
        ordered = sorted(dist)
        favour.append(ordered.index(dist[i]) + 1)
        against.append(sum(d <= dist[i] for d in dist))
    return np.array(favour), np.array(against)


def _metrics(ranks):
    return {"medr": float(np.median(ranks)), **{f"r{k}": 100.0 * float(np.mean(ranks <= k)) for k in (1, 5, 10)}}


def test_agrees_with_an_independent_implementation_on_planted_ties():
    rng = np.random.default_rng(5)
    img = _unit(rng.normal(size=(40, 6)))
    rec = _unit(img + 0.9 * rng.normal(size=(40, 6)))
    rec[[1, 2, 3]] = rec[0]  # four recipes with one vector (a collapsed recipe encoder)
    img[[11, 12]] = img[10]  # three photos with one vector
    rec[20] = img[20]  # an exact match that ties nothing
    bags = bag_metrics(img, rec, bag_size=40)
    for direction, (q, g) in {"image_to_recipe": (img, rec), "recipe_to_image": (rec, img)}.items():
        favour, against = _reference_ranks(q, g)
        assert (against > favour).sum() == bags["tied_queries"][direction] > 0
        assert {m: v["mean"] for m, v in bags[direction].items()} == pytest.approx(_metrics(favour))
        assert {m: v["mean"] for m, v in bags["ties_against"][direction].items()} == pytest.approx(_metrics(against))


def test_metrics_do_not_depend_on_row_order():
    # Identical vectors tie; float noise from their position in the matrix must not break the tie.
    rng = np.random.default_rng(1)
    img = _unit(rng.normal(size=(66, 64)))
    rec = _unit(img + rng.normal(size=(66, 64)))
    rec[10:30] = rec[10]
    first = bag_metrics(img, rec, bag_size=1000)
    for seed in range(3):
        order = np.random.default_rng(seed).permutation(66)
        again = bag_metrics(img[order], rec[order], bag_size=1000)
        for key in ("image_to_recipe", "recipe_to_image", "ties_against", "tied_queries"):
            assert again[key] == first[key]
    for direction in ("image_to_recipe", "recipe_to_image"):  # R@k of 66 queries is a multiple of 100/66
        assert (first[direction]["r1"]["mean"] * 66 / 100) == pytest.approx(round(first[direction]["r1"]["mean"] * 66 / 100))


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


def test_small_sets_are_evaluated_once_in_full():
    rng = np.random.default_rng(0)
    img = _unit(rng.normal(size=(30, 8)))
    rec = _unit(img + 0.8 * rng.normal(size=(30, 8)))
    a = bag_metrics(img, rec, bag_size=1000, n_bags=3, seed=1)
    assert a["bag_size"] == 30 and a["requested_bag_size"] == 1000 and a["n_bags"] == 1 and a["full_set"]
    full = rank_metrics(img, rec)
    assert {m: v for m, v in a["image_to_recipe"].items()} == {m: {"mean": v} for m, v in full["image_to_recipe"].items()}
    assert bag_metrics(img, rec, bag_size=30)["full_set"]  # "not larger than the bag"
    b1 = bag_metrics(img, rec, bag_size=10, n_bags=4, seed=3)
    b2 = bag_metrics(img, rec, bag_size=10, n_bags=4, seed=3)
    assert b1 == b2 and not b1["full_set"] and b1["n_bags"] == 4 and "std" in b1["image_to_recipe"]["r5"]
    against = b1["ties_against"]["image_to_recipe"]
    assert selection_score(b1) == pytest.approx(against["r1"]["mean"] + 0.8 * against["r5"]["mean"]
                                                + 0.6 * against["r10"]["mean"])
    table = format_table([a, b1])
    assert "| 30 (full set) | image to recipe | model |" in table and "| 10 x 4 |" in table and "±" not in table.split("x 4")[0]


def test_reference_rows_chance_and_category_oracle():
    rng = np.random.default_rng(2)
    img = _unit(rng.normal(size=(20, 8)))
    labels = np.array([0] * 10 + [1] * 5 + [2] * 4 + [3])  # categories of 10, 5, 4 and 1 items
    bags = bag_metrics(img, img, bag_size=20, labels=labels)
    chance = bags["references"]["chance"]["image_to_recipe"]
    assert chance == {"medr": 10.5, "r1": 5.0, "r5": 25.0, "r10": 50.0}
    oracle = bags["references"]["category_oracle"]["recipe_to_image"]
    # R@k = mean over items of min(k, m)/m: m = 10 (10 items), 5 (5), 4 (4), 1 (1).
    assert oracle["r1"] == pytest.approx(100 * (10 * 0.1 + 5 * 0.2 + 4 * 0.25 + 1) / 20)
    assert oracle["r5"] == pytest.approx(100 * (10 * 0.5 + 5 + 4 + 1) / 20) and oracle["r10"] == 100.0
    assert 1.0 <= oracle["medr"] <= 5.0
    table = format_table([bags])
    assert "| category-oracle |" in table and "| chance | 10.5 | 5.0 | 25.0 | 50.0 |" in table


def test_near_duplicate_share_and_warning():
    from trainer.references import near_duplicate_report, near_duplicate_share, near_duplicate_warnings

    rng = np.random.default_rng(3)
    rec = _unit(rng.normal(size=(50, 16)))
    assert near_duplicate_share(rec) == 0.0
    rec[5:15] = _unit(rec[5] + 1e-5 * rng.normal(size=(10, 16)))  # 10 distinct inputs, one point
    assert near_duplicate_share(rec) == pytest.approx(10 / 50)
    report = near_duplicate_report(rec[::-1].copy(), rec)
    assert report["recipe"] == report["image"] == pytest.approx(0.2)
    lines = near_duplicate_warnings(report, "test")
    assert len(lines) == 2 and "20.0% of the 50 test recipe vectors" in lines[0]
    assert near_duplicate_warnings({**report, "recipe": 0.01, "image": 0.0}, "test") == []


def test_bad_inputs_are_named():
    with pytest.raises(InputError, match="same shape"):
        rank_metrics(np.zeros((3, 4)), np.zeros((2, 4)))
    with pytest.raises(InputError, match="at least 2"):
        bag_metrics(np.zeros((1, 4)), np.zeros((1, 4)), 10)


def test_the_plan_line_names_each_evaluation_once():
    # 1048 pairs with the default sizes: bags of 1000, and 10000 means the full set once.
    line = describe_plan(1048, (1000, 10000), 10)
    assert line == ("1048 test pairs: 10 seeded bags of 1000 (mean ± std); "
                    "the full set once (bag size 10000 >= 1048 pairs: no bags, no spread)")
    assert describe_plan(30, (10, 30, 1000), 4).count("full set once") == 1
    assert "bags of" not in describe_plan(30, (1000,), 4)
