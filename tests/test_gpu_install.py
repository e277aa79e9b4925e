"""Packaging of the runtimes: every install leaves exactly one ONNX Runtime package, GPU extras match one CUDA major,
and every install suggestion in the code names an extra that exists.

The resolver's view (pip install --dry-run --report) is recorded in docs/handoff/gpu.md; these
tests read pyproject.toml and the sources, so they run offline in milliseconds.
"""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
EXTRAS: dict[str, list[str]] = PYPROJECT["project"]["optional-dependencies"]
CORE = PYPROJECT["project"]["dependencies"]
# Packages that ship the `onnxruntime` module: two of them side by side overwrite each other.
ORT_PACKAGES = {"onnxruntime", "onnxruntime-gpu", "onnxruntime-directml", "onnxruntime-openvino", "onnxruntime-qnn",
                "onnxruntime-training", "onnxruntime-gpu-extended"}
RUNTIME_EXTRAS = ("cpu", "gpu-cu12", "gpu-cu13")
# Which onnxruntime-gpu releases on PyPI are built for which CUDA major: their `cuda` extra requires
# nvidia-cuda-runtime-cu12 up to 1.26.0 and nvidia-cuda-runtime(-cu13) ~= 13.0 from 1.27.0 on
# (read from the registry's metadata with pip install --dry-run --report).
ORT_GPU_CUDA13_FROM = Version("1.27.0")


def _requirements(extra: str | None) -> list[Requirement]:
    return [Requirement(r) for r in (CORE if extra is None else EXTRAS[extra])]


def _names(extra: str | None) -> set[str]:
    return {r.name.lower() for r in _requirements(extra)}


def test_core_has_no_onnxruntime_and_no_other_extra_brings_one():
    assert not _names(None) & ORT_PACKAGES
    for extra in EXTRAS:
        if extra not in RUNTIME_EXTRAS:
            assert not _names(extra) & ORT_PACKAGES, f"extra {extra!r} names an ONNX Runtime package"
            assert not {n for n in _names(extra) if n.startswith(("tensorrt", "cuda-python"))}, extra


@pytest.mark.parametrize("extra", RUNTIME_EXTRAS)
def test_each_runtime_extra_installs_exactly_one_onnxruntime(extra):
    assert len(_names(extra) & ORT_PACKAGES) == 1, f"{extra}: {sorted(_names(extra) & ORT_PACKAGES)}"


@pytest.mark.parametrize("major", [12, 13])
def test_gpu_extra_pins_one_cuda_major_for_onnxruntime_tensorrt_and_cuda_python(major):
    reqs = {r.name.lower(): r for r in _requirements(f"gpu-cu{major}")}
    assert set(reqs) == {"onnxruntime-gpu", f"tensorrt-cu{major}", "cuda-python", "simplejpeg"}  # simplejpeg: image queries
    assert {"cuda", "cudnn"} <= reqs["onnxruntime-gpu"].extras  # CUDA/cuDNN libraries from pip, found by preload_dlls
    ort = reqs["onnxruntime-gpu"].specifier
    probes = [Version(v) for v in ("1.21.0", "1.24.4", "1.26.0", "1.27.0", "1.31.1")]
    allowed = [v for v in probes if v in ort]
    assert allowed and all((v >= ORT_GPU_CUDA13_FROM) == (major == 13) for v in allowed)
    cuda_python = reqs["cuda-python"].specifier
    assert Version(f"{major}.9.0") in cuda_python and Version(f"{25 - major}.0.0") not in cuda_python
    assert Version("12.6.2") not in cuda_python  # cuda-python before 12.8 does not pin a cuda-bindings of its major
    trt = reqs[f"tensorrt-cu{major}"].specifier
    assert Version("10.16.1.11") in trt and Version("11.4.0.106") in trt and Version("10.7.0") not in trt


def test_setup_script_installs_the_cpu_runtime():
    line = next(ln for ln in (ROOT / "scripts" / "setup.sh").read_text().splitlines() if "pip install" in ln and "-e" in ln)
    extras = re.search(r'-e "\.\[([^\]]+)\]"', line).group(1).split(",")
    assert "cpu" in extras and not {"gpu-cu12", "gpu-cu13"} & set(extras)


def test_every_install_suggestion_names_an_existing_extra():
    sources = [p for folder in ("seje_sdk", "export", "trainer", "benchmarks", "scripts")
               for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".sh")]
    suggested = {}
    for path in sources:
        text = path.read_text()
        for extras in re.findall(r"seje\[([\w,.-]+)\]", text):
            for extra in extras.split(","):
                suggested.setdefault(extra, path.relative_to(ROOT))
        assert not re.search(r"pip install (onnxruntime|tensorrt|cuda-python)\b", text), f"{path}: suggests a bare runtime install"
    assert {"cpu", "gpu-cu12", "gpu-cu13"} <= set(suggested)
    unknown = {e: str(p) for e, p in suggested.items() if e not in EXTRAS}
    assert not unknown, f"install suggestions name extras that do not exist: {unknown}"
