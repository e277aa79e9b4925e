"""The ablation runner: reference rows against brute force, verdicts that say what does not help,
and one real (tiny) run that writes the table."""
import json

import numpy as np

from benchmarks.ablation import reference_metrics, run_ablation, seeded_bags, verdicts


def test_oracle_and_chance_rows_match_brute_force():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, size=60)
    bags = seeded_bags(len(labels), 1000, 10)  # 60 <= 1000: the full set once
    assert len(bags) == 1 and len(bags[0]) == 60
    refs = reference_metrics(labels, bags, seed=0)
    # Simulate the oracle: a match's rank is uniform among the items of its category.
    sims = []
    for _ in range(4000):
        m = np.array([(labels == c).sum() for c in labels])
        sims.append(np.floor(rng.random(60) * m) + 1)
    ranks = np.concatenate(sims)
    for k in (1, 5, 10):
        assert abs(refs["category-only oracle"]["image_to_recipe"][f"r{k}"] - 100 * np.mean(ranks <= k)) < 0.5
    assert refs["chance"]["recipe_to_image"] == {"medr": 30.5, "r1": 100 / 60, "r5": 500 / 60, "r10": 1000 / 60}


def _result(r1, sd=0.5, medr=5.0):
    one = {"medr": {"mean": medr, "sd": 0.0}, "r1": {"mean": r1, "sd": sd}, "r5": {"mean": 0, "sd": 0},
           "r10": {"mean": 0, "sd": 0}}
    return {"image_to_recipe": one, "recipe_to_image": one}


def test_verdicts_say_plainly_when_a_component_does_not_help():
    results = {"full SEJE": _result(20.0, medr=3.0), "without class negatives": _result(20.2),
               "without term feature": _result(12.0), "without category loss": _result(24.0),
               "category-only oracle": _result(9.0, medr=6.0), "plain triplet baseline": _result(21.0, medr=2.0)}
    v = verdicts(results)
    assert "does not help on this data" in v["without class negatives"]
    assert v["without term feature"].startswith("the term feature helps")
    assert "hurts on this data" in v["without category loss"]
    assert "beats the category-only oracle" in v["vs category-only oracle"]
    assert "does NOT beat the plain triplet baseline" in v["vs plain triplet baseline"]


def test_tiny_ablation_writes_table_and_json(tiny_data, tiny_features, tmp_path):
    report = run_ablation(tiny_data, tiny_features, tmp_path / "work", tmp_path / "out", seeds=(0,), preset="tiny",
                          overrides={"epochs": 1}, rows=["full SEJE", "plain triplet baseline"], command="pytest")
    saved = json.loads((tmp_path / "out" / "ablation.json").read_text())
    assert set(saved["results"]) == {"full SEJE", "plain triplet baseline", "category-only oracle", "chance"}
    assert saved["results"] == json.loads(json.dumps(report["results"]))
    table = (tmp_path / "out" / "ablation.md").read_text()
    assert table.index("| full SEJE |") < table.index("| plain triplet baseline |") < table.index("| chance |")
    assert "| category-only oracle |" in table and "Command: `pytest`" in table
    # the second row reused the first run's cached backbone features
    assert (tmp_path / "work" / "seed0" / "plain_triplet_baseline" / "cache").is_dir()
