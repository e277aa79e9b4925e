"""Every evaluation carries its references: `seje-train eval` and `seje-export` on the tiny chain."""
import json

from click.testing import CliRunner

from trainer.cli import main as train_main


def test_eval_reports_reference_rows_ties_and_near_duplicates(tiny_run):
    res = CliRunner().invoke(train_main, ["eval", "--run", str(tiny_run), "--bag-sizes", "10,1000", "--bags", "3"])
    assert res.exit_code == 0, res.output
    for row in ("| 10 x 3 | image to recipe | model |", "| category-oracle |", "| chance |", "(full set) | recipe to image"):
        assert row in res.output
    assert "near-duplicate vectors (cosine > 0.9999)" in res.output and "Ties: ties count in the match's favour" in res.output
    report = json.loads((tiny_run / "eval.json").read_text())
    n = report["n_test"]
    small, full = report["bags"]
    assert small["n_bags"] == 3 and "std" in small["image_to_recipe"]["r1"] and not small["full_set"]
    assert full["full_set"] and full["n_bags"] == 1 and full["bag_size"] == n and "std" not in full["image_to_recipe"]["r1"]
    # The full set is evaluated once: each recall is a whole number of the n queries (unrounded in the JSON).
    for direction in ("image_to_recipe", "recipe_to_image"):
        hits = full[direction]["r1"]["mean"] * n / 100
        assert abs(hits - round(hits)) < 1e-9
        chance, oracle = full["references"]["chance"][direction], full["references"]["category_oracle"][direction]
        assert chance["r10"] == 100 * 10 / n and chance["medr"] == (n + 1) / 2
        assert chance["r1"] <= oracle["r1"] <= 100 and oracle["medr"] <= chance["medr"]
        assert full["ties_against"][direction]["r1"]["mean"] <= full[direction]["r1"]["mean"]
    dup = report["near_duplicates"]
    assert dup["n"] == n and 0.0 <= dup["recipe"] <= 1.0 and 0.0 <= dup["image"] <= 1.0


def test_export_manifest_reports_near_duplicates(tiny_bundle):
    manifest = json.loads((tiny_bundle / "manifest.json").read_text())
    dup = manifest["near_duplicates"]
    assert dup["cosine_above"] == 0.9999 and dup["warn_above_share"] == 0.05 and dup["n"] > 1
    assert 0.0 <= dup["recipe"] <= 1.0 and 0.0 <= dup["image"] <= 1.0
