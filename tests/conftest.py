"""Session fixtures: one tiny end-to-end chain (synth -> features -> fit -> export), built once.

Every stage is the real code with the `tiny` preset, so later stages test against real
artefacts of earlier ones. Each fixture is lazy: a test pays only for the stages it uses.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

TINY_RECIPES = 160
TINY_SEED = 7


@pytest.fixture(scope="session")
def chain_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("chain")


@pytest.fixture(scope="session")
def tiny_data(chain_dir) -> Path:
    """A tiny synthetic dataset in the exact Recipe1M layout."""
    from trainer.data.synth import generate

    out = chain_dir / "data"
    generate(out, n_recipes=TINY_RECIPES, seed=TINY_SEED, image_size=64)
    return out


@pytest.fixture(scope="session")
def tiny_features(tiny_data, chain_dir) -> Path:
    """FEATURES_DIR built with the tiny preset."""
    from trainer.features.pipeline import build_features

    return build_features(tiny_data, chain_dir / "features", preset="tiny")


@pytest.fixture(scope="session")
def tiny_run(tiny_data, tiny_features, chain_dir) -> Path:
    """RUN_DIR trained with the tiny preset."""
    from trainer.train import run_fit

    return run_fit(tiny_data, tiny_features, chain_dir / "run", preset="tiny")


@pytest.fixture(scope="session")
def tiny_bundle(tiny_run, chain_dir) -> Path:
    """BUNDLE_DIR exported (fp32 + int8, verified) from the tiny run."""
    from export.bundle import export_run

    return export_run(tiny_run, chain_dir / "bundle", int8=True, engine="auto")


def _has_gpu() -> bool:
    try:
        import onnxruntime as ort

        return "CUDAExecutionProvider" in ort.get_available_providers() and os.path.exists("/dev/nvidia0")
    except Exception:
        return False


def pytest_collection_modifyitems(config, items):
    if _has_gpu():
        return
    skip = pytest.mark.skip(reason="needs an NVIDIA GPU with CUDA/TensorRT: none on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
