"""scripts/gpu-check.sh and the PyTorch CUDA benchmark rows, as they behave on a machine without a GPU (CI)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu-check.sh"


def _torch_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(_torch_cuda(), reason="this machine has a CUDA GPU: gpu-check would run for minutes")
def test_gpu_check_without_gpu_exits_nonzero_with_one_clear_line(tmp_path):
    out = tmp_path / "out"
    res = subprocess.run(["bash", str(SCRIPT), str(out)], capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable})
    assert res.returncode == 3, res.stdout + res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("gpu-check: no NVIDIA GPU usable: "), res.stderr
    assert res.stdout == "" and not out.exists()  # stopped before any work or output


def test_gpu_check_without_pytorch_names_the_python_to_use(tmp_path):
    res = subprocess.run(["bash", str(SCRIPT), str(tmp_path / "out")], capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "PYTHON": "/bin/false"})
    assert res.returncode == 3 and res.stderr.startswith("gpu-check: ")


def test_gpu_check_usage():
    res = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=30)
    assert res.returncode == 2 and "usage: scripts/gpu-check.sh OUT_DIR" in res.stderr


@pytest.mark.skipif(_torch_cuda(), reason="this machine has a CUDA GPU")
def test_pytorch_cuda_rows_are_listed_skipped_with_the_reason():
    from benchmarks.torch_cuda import BACKENDS, PRECISIONS, torch_cuda_cases

    batches = {("image", 1): None, ("recipe", 8): None}
    cases = torch_cuda_cases("no-run-needed-without-a-gpu", batches)
    assert {(c.backend, c.precision, c.encoder, c.batch_size) for c in cases} == {
        (b, p, e, bs) for b in BACKENDS for p in PRECISIONS for e, bs in batches}
    assert all(c.skipped and c.skipped.startswith("PyTorch CUDA unusable: ") for c in cases)
