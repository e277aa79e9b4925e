"""benchmarks.title_ceiling: ties count against the match, and knowing the dish can only lift a title's photo."""
from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

from benchmarks.title_ceiling import main, ranks


def test_ranks_count_ties_against_the_match():
    scores = np.array([[0.5, 0.5, 0.1], [0.9, 0.2, 0.1], [0.0, 0.0, 0.3]])
    assert ranks(scores).tolist() == [2, 2, 1]


def test_true_dish_first_never_ranks_worse_than_the_text_encoder_alone(tiny_run, tmp_path):
    out = tmp_path / "ceiling"
    result = CliRunner().invoke(main, [str(tiny_run), "--bag-size", "8", "--bags", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.with_suffix(".json").read_text())
    assert "| ranking | MedR | R@1 | R@10 |" in out.with_suffix(".md").read_text()
    rows = report["rows"]
    text, perfect = rows["text encoder"], rows["text encoder, photos of the true dish first (a perfect photo classifier)"]
    assert perfect["medr"] <= text["medr"] and perfect["r1"] >= text["r1"] and perfect["r10"] >= text["r10"]
    assert set(rows) >= {"category-oracle", "chance"} and 0.0 <= report["photo_classifier_top1"] <= 1.0


def test_a_run_without_text_encoder_is_refused_by_name(tmp_path):
    result = CliRunner().invoke(main, [str(tmp_path), "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "no text_encoder.pt" in result.output
