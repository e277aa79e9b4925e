"""TensorRT engines: built and run where a GPU exists (`gpu` marker); the no-GPU behaviour everywhere.

On a machine without an NVIDIA GPU or TensorRT the gpu tests are skipped visibly by
tests/conftest.py; the CPU tests check that `--engine auto` skips with the reason recorded and
that `--engine tensorrt` fails at once, naming the missing piece.
"""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from export import tensorrt as trt_export
from export.onnx import IMAGE, RECIPE, TAGGER
from seje_sdk.errors import BackendError


# ------------------------------------------------------------------ everywhere
def test_profile_shapes_cover_batch_and_sequences_up_to_the_limits():
    limits = dict(image_size=64, max_sentences=20, max_tokens=20, max_ingredient_tokens=32, word_dim=32)
    image = trt_export.profile_shapes(IMAGE, 8, **limits)["pixels"]
    assert image == ((1, 3, 64, 64), (8, 3, 64, 64), (8, 3, 64, 64))
    recipe = trt_export.profile_shapes(RECIPE, 64, **limits)
    assert recipe["sentence_tokens"] == ((1, 1, 1), (16, 20, 20), (64, 20, 20))
    assert recipe["sentence_lengths"][2] == (64, 20) and recipe["term_feature"][2] == (64, 32)
    tagger = trt_export.profile_shapes(TAGGER, 64, **limits)
    assert tagger["tokens"][2] == (64, 32) and tagger["lengths"] == ((1,), (16,), (64,))


def test_engine_names_encode_gpu_architecture_and_tensorrt_version():
    env = trt_export.TrtEnvironment(True, tensorrt="10.3.0", gpu="NVIDIA A10", compute_capability="8.6")
    assert trt_export.engine_filename(IMAGE, "fp16", env) == "engines/image_encoder.fp16.sm86.trt10.3.plan"


def _no_gpu() -> bool:
    return not trt_export.detect().available


@pytest.mark.skipif(not _no_gpu(), reason="this machine can build TensorRT engines")
def test_detect_says_what_is_missing():
    env = trt_export.detect()
    assert not env.available and env.reason
    assert "tensorrt" in env.reason.lower() or "gpu" in env.reason.lower()


@pytest.mark.skipif(not _no_gpu(), reason="this machine can build TensorRT engines")
def test_engine_tensorrt_fails_before_any_work(tmp_path):
    from export.bundle import export_run

    # The probe runs before the run is even opened: an empty folder proves no work was done.
    with pytest.raises(BackendError, match="--engine tensorrt: cannot build engines here: .*tensorrt"):
        export_run(tmp_path, tmp_path / "bundle", engine="tensorrt")
    assert not (tmp_path / "bundle").exists()


@pytest.mark.skipif(not _no_gpu(), reason="this machine can build TensorRT engines")
def test_cli_engine_tensorrt_exits_nonzero_with_the_reason(tmp_path):
    from click.testing import CliRunner

    from export.cli import main

    result = CliRunner().invoke(main, [str(tmp_path), "--out", str(tmp_path / "b"), "--engine", "tensorrt"])
    assert result.exit_code != 0
    assert "cannot build engines here" in result.output and "tensorrt" in result.output
    assert "Traceback" not in result.output


@pytest.mark.skipif(not _no_gpu(), reason="this machine can build TensorRT engines")
def test_auto_skips_engines_and_records_why(tiny_bundle):
    manifest = json.loads((tiny_bundle / "manifest.json").read_text())
    skipped = manifest["variants"]["tensorrt"]["skipped"]
    assert "tensorrt" in skipped.lower() or "gpu" in skipped.lower()
    assert manifest["export_env"]["gpu"] is None and manifest["export_env"]["compute_capability"] is None
    assert not list(tiny_bundle.glob("engines/*.plan"))


# ------------------------------------------------------------------ GPU only
@pytest.fixture(scope="module")
def small_onnx(tmp_path_factory):
    """A small recipe-style LSTM graph exported with the project's exporter."""
    import torch

    from export.onnx import export_graph
    from trainer.features.tagger import IngredientTagger

    torch.manual_seed(0)
    tagger = IngredientTagger(50, 16, 8).eval()
    out = tmp_path_factory.mktemp("trt") / "tagger.onnx"
    tokens = np.array([[5, 6, 7], [8, 9, 0]], np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_graph(tagger, [tokens, np.array([3, 2], np.int64)], TAGGER, out)
    return tagger, out


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_engine_builds_runs_and_matches_pytorch(small_onnx, tmp_path, precision):
    import torch

    from seje_sdk.backends.tensorrt import TrtSession

    tagger, onnx_path = small_onnx
    env = trt_export.detect()
    shapes = trt_export.profile_shapes(TAGGER, 8, image_size=32, max_sentences=4, max_tokens=4,
                                       max_ingredient_tokens=12, word_dim=16)
    cache = tmp_path / "timing.cache"
    plan = trt_export.build_engine(onnx_path, tmp_path / trt_export.engine_filename(TAGGER, precision, env), shapes,
                                   fp16=precision == "fp16", timing_cache=cache)
    assert plan.stat().st_size > 0 and cache.stat().st_size > 0  # timing cache persisted
    session = TrtSession(str(plan), env.tensorrt, env.compute_capability, max_batch=8)
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 12, 5).astype(np.int64)
    tokens = (rng.integers(3, 50, (5, 12)) * (np.arange(12)[None] < lengths[:, None])).astype(np.int64)
    got = session.run({"tokens": tokens, "lengths": lengths})["logits"]
    with torch.no_grad():
        ref = tagger(torch.from_numpy(tokens), torch.from_numpy(lengths)).numpy()
    mask = np.arange(12)[None] < lengths[:, None]
    tol = 1e-4 if precision == "fp32" else 2e-2
    np.testing.assert_allclose(got[mask], ref[mask], atol=tol)


@pytest.mark.gpu
def test_export_with_engines_verifies_them(tiny_run, tmp_path):
    from export.bundle import export_run

    bundle = export_run(tiny_run, tmp_path / "bundle", fp16=True, engine="tensorrt", max_batch=16,
                        timing_cache=tmp_path / "timing.cache")
    manifest = json.loads((bundle / "manifest.json").read_text())
    engines = manifest["variants"]["tensorrt"]
    assert engines["compute_capability"] and engines["tensorrt_version"]
    for precision in ("fp32", "fp16"):
        for role, rel in engines[precision].items():
            assert (bundle / rel).is_file() and rel in manifest["files"]
        assert manifest["parity"]["variants"][f"tensorrt/{precision}"]["passed"]
