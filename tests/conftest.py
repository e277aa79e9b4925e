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


# ------------------------------------------------------------------ GPU gating
# @pytest.mark.gpu("tensorrt" | "ort-cuda" | "torch-cuda", ...) names what a test needs; each
# test is skipped, with the precise reason, unless every named piece works on this machine.
GPU_NEEDS = ("tensorrt", "ort-cuda", "torch-cuda")


def _tensorrt_missing() -> str | None:
    from export.tensorrt import detect

    env = detect()
    return None if env.available else f"TensorRT unusable: {env.reason}"


def _ort_cuda_missing() -> str | None:
    from seje_sdk.backends.gpu import driver_cuda_version, install_hint

    if driver_cuda_version() is None:
        return "ONNX Runtime CUDA unusable: no GPU (no NVIDIA driver)"
    try:
        import onnxruntime as ort
    except ImportError:
        return f"ONNX Runtime CUDA unusable: onnxruntime is not installed ({install_hint()})"
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return f"ONNX Runtime CUDA unusable: this onnxruntime build has no CUDA provider ({install_hint()})"
    return None


def _torch_cuda_missing() -> str | None:
    import torch

    return None if torch.cuda.is_available() else f"PyTorch CUDA unusable: torch {torch.__version__} sees no CUDA device"


_PROBES = {"tensorrt": _tensorrt_missing, "ort-cuda": _ort_cuda_missing, "torch-cuda": _torch_cuda_missing}


def gpu_skip_reason(needs: tuple[str, ...], cache: dict[str, str | None]) -> str | None:
    """Why a test needing `needs` cannot run here (None when it can); probes run once per session."""
    for need in needs:
        if need not in _PROBES:
            raise pytest.UsageError(f"@pytest.mark.gpu({need!r}): use one of {GPU_NEEDS}")
        if need not in cache:
            cache[need] = _PROBES[need]()
        if cache[need]:
            return cache[need]
    return None


def _pypi_unreachable() -> str | None:
    import urllib.request

    try:
        urllib.request.urlopen("https://pypi.org/simple/pip/", timeout=15).close()
    except OSError as e:
        return f"PyPI unreachable: {e}"
    return None


def pytest_collection_modifyitems(config, items):
    cache: dict[str, str | None] = {}
    for item in items:
        if item.get_closest_marker("network") is not None:
            if "network" not in cache:
                cache["network"] = _pypi_unreachable()
            if cache["network"]:
                item.add_marker(pytest.mark.skip(reason=cache["network"]))
        marker = item.get_closest_marker("gpu")
        if marker is None:
            continue
        # A bare @pytest.mark.gpu keeps its old meaning: ONNX Runtime's CUDA provider works.
        reason = gpu_skip_reason(tuple(marker.args) or ("ort-cuda",), cache)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))
