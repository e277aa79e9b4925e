"""The learning-curve harness: real synth + features + fit + eval at the tiny preset, resumable, with reference rows."""
from __future__ import annotations

import dataclasses
import json

import pytest

from benchmarks.learning_curve import OPTIONS, CurveConfig, Option, register_option, run_curve
from seje_sdk.errors import InputError


def test_unknown_option_is_refused_by_name(tmp_path):
    with pytest.raises(InputError, match="unknown options \\[.nope.\\]; registered: seje, small, "):
        CurveConfig(options=("seje", "nope"), work=tmp_path)
    assert {"seje", "fasttext"} <= set(OPTIONS)


def test_tiny_curve_writes_rows_per_seed_with_chance_and_oracle_and_resumes(tmp_path):
    register_option(Option("tiny-test", "tiny presets (test only)", features_preset="tiny", fit_preset="tiny"))
    register_option(Option("tiny-test-b", "tiny presets, other fit (shares the features)", features_preset="tiny",
                           fit_preset="tiny", fit={"epochs": 2}))
    try:
        cfg = CurveConfig(sizes=(60,), options=("tiny-test", "tiny-test-b"), seeds=(0, 1), work=tmp_path / "work",
                          out=tmp_path / "out")
        report = run_curve(cfg, "test")
        assert report["status"] == "complete" and len(report["runs"]) == 4
        assert len(report["features_s"]) == 1  # one FEATURES_DIR for both options
        rows = {r["row"]: r for r in report["rows"]}
        assert set(rows) == {"tiny-test", "tiny-test-b", "category-only oracle", "chance"}
        test_pairs = rows["chance"]["bag_size"]
        assert rows["chance"]["image_to_recipe.medr"]["mean"] == (test_pairs + 1) / 2
        assert rows["tiny-test"]["seeds"] == [0, 1] and rows["tiny-test"]["image_to_recipe.r1"]["sd"] is not None
        saved = json.loads((tmp_path / "out/learning_curve.json").read_text())
        assert saved["rows"] == report["rows"]
        md = (tmp_path / "out/learning_curve.md").read_text()
        assert "| 60 | tiny-test | 2 |" in md and "OMP_NUM_THREADS" in md
        again = run_curve(cfg, "test")  # every stage reused: no fit or eval time recorded
        assert all("fit_s" not in r for r in again["runs"]) and again["rows"] == report["rows"]
    finally:
        OPTIONS.pop("tiny-test", None)
        OPTIONS.pop("tiny-test-b", None)


def test_small_preset_is_the_cpu_preset_with_smaller_batches_and_more_epochs():
    from trainer.config import resolve_config
    from trainer.features.config import PRESETS

    cpu, small = resolve_config("cpu").to_dict(), resolve_config("small").to_dict()
    assert {k for k in cpu if cpu[k] != small[k]} == {"preset", "batch_size", "epochs", "plateau_patience", "stop_patience"}
    assert (small["batch_size"], small["epochs"]) == (32, 60)
    # larger photos and pretrained MiniLM sentence/title/ingredient vectors; the rest is the cpu preset
    assert PRESETS["small"] == dataclasses.replace(PRESETS["cpu"], image_size=224, sentence_encoder="minilm", minilm_fields=True)
    keys = {OPTIONS[name].features_key() for name in ("seje", "small", "small-photos")}
    assert len(keys) == 3
