"""What machine and software a benchmark ran on: CPU, threads, memory, GPU, driver, CUDA, runtimes.

Every report carries this so numbers are never quoted without the machine that made them.
"""
from __future__ import annotations

import importlib
import os
import platform
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from typing import Any

from benchmarks.memory import machine_memory


def _cpu_model() -> str:
    # /proc/cpuinfo is the only place Linux names the CPU; platform.processor() is often empty.
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "asimd")  # what decides int8/bf16 kernels


def cpu_flags() -> list[str]:
    """The CPU_FLAGS this CPU has (Linux /proc/cpuinfo), e.g. ['avx2', 'avx512_vnni']."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    have = set(line.split(":", 1)[1].split())
                    return [flag for flag in CPU_FLAGS if flag in have]
    except OSError:
        pass
    return []


def _version(module: str) -> str | None:
    try:
        return getattr(importlib.import_module(module), "__version__", "unknown")
    except Exception:  # not installed, or fails to import (a broken CUDA lib, say)
        return None


def _nvidia_smi() -> dict[str, Any]:
    """GPU names, driver and memory from nvidia-smi, or the reason there is none."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return {"gpus": [], "driver": None, "reason": "nvidia-smi not found (no NVIDIA driver on this machine)"}
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name,driver_version,memory.total,compute_cap", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20, check=True,
        ).stdout
    except (subprocess.SubprocessError, OSError) as e:
        return {"gpus": [], "driver": None, "reason": f"nvidia-smi failed: {e}"}
    gpus = []
    for line in out.strip().splitlines():
        name, driver, mem, cc = [p.strip() for p in line.split(",")]
        gpus.append({"name": name, "driver": driver, "memory": mem, "compute_capability": cc})
    return {"gpus": gpus, "driver": gpus[0]["driver"] if gpus else None, "reason": None if gpus else "no GPU listed"}


def _torch_info() -> dict[str, Any]:
    if importlib.util.find_spec("torch") is None:
        return {"torch": None}
    import torch

    return {
        "torch": torch.__version__,
        "torch_cuda_build": torch.version.cuda,
        "torch_cuda_available": bool(torch.cuda.is_available()),
        "torch_threads": torch.get_num_threads(),
    }


def _onnxruntime_info() -> dict[str, Any]:
    try:
        import onnxruntime as ort
    except Exception as e:
        return {"onnxruntime": None, "onnxruntime_error": str(e)}
    return {"onnxruntime": ort.__version__, "onnxruntime_providers": ort.get_available_providers()}


def capture_environment() -> dict[str, Any]:
    """A JSON-ready description of this machine and the library versions in use."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    env: dict[str, Any] = {
        "timestamp_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "hostname": platform.node(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpu_model": _cpu_model(),
        "cpu_flags": cpu_flags(),
        **machine_memory(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        # A busy machine skews absolute numbers (ratios are interleaved to stay fair): record it.
        "load_average_1m_5m_15m": [round(x, 2) for x in load] if load else None,
        "numpy": _version("numpy"),
        "pillow": _version("PIL"),
        "simplejpeg": _version("simplejpeg"),  # the optional fast JPEG decoder (seje_sdk.jpeg)
        "faiss": _version("faiss"),
        "tensorrt": _version("tensorrt"),
    }
    env.update(_torch_info())
    env.update(_onnxruntime_info())
    smi = _nvidia_smi()
    env["gpus"] = smi["gpus"]
    env["gpu_driver"] = smi["driver"]
    env["gpu_reason"] = smi["reason"]
    env["tensorrt_reason"] = None if env["tensorrt"] else "tensorrt Python package not installed"
    return env


def gpu_unavailable_reason() -> str | None:
    """Why GPU backends cannot run here (None when an NVIDIA GPU and a CUDA provider are usable)."""
    smi = _nvidia_smi()
    if not smi["gpus"]:
        return smi["reason"] or "no NVIDIA GPU"
    try:
        import onnxruntime as ort

        if "CUDAExecutionProvider" not in ort.get_available_providers():
            from seje_sdk.backends.gpu import install_hint

            return f"onnxruntime build has no CUDAExecutionProvider ({install_hint()})"
    except Exception as e:
        return f"onnxruntime not importable: {e}"
    return None


def environment_summary(env: dict[str, Any]) -> str:
    """One line for report headers: CPU, cores, GPU, key versions."""
    gpu = ", ".join(g["name"] for g in env.get("gpus", [])) or f"no GPU ({env.get('gpu_reason')})"
    return (
        f"{env['cpu_model']} ({env['cpu_logical_cores']} logical cores, {env['ram_total_gib']} GiB RAM); {gpu}; "
        f"python {env['python']}, torch {env.get('torch')}, onnxruntime {env.get('onnxruntime')}, "
        f"faiss {env.get('faiss')}, TensorRT {env.get('tensorrt') or 'n/a'}"
    )


def load_snapshot() -> dict[str, Any]:
    """The 1-minute load average and the CPUs this process may use, taken now."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"load_1m": None if load is None else round(load, 2), "cpus": cpus}


def load_fields(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Row fields for a case's load before and after it ran; `overloaded` when either exceeded the CPU count."""
    loads = [s["load_1m"] for s in (before, after) if s["load_1m"] is not None]
    return {"load_before": before["load_1m"], "load_after": after["load_1m"], "cpus": before["cpus"],
            "overloaded": bool(loads) and max(loads) > before["cpus"]}


def load_cell(row: dict[str, Any]) -> str:
    """'1.2 -> 3.4 / 2 CPUs', with a warning mark when the case ran on an overloaded machine."""
    if row.get("load_before") is None:
        return ""
    mark = " OVERLOADED" if row.get("overloaded") else ""
    return f"{row['load_before']:.1f} -> {row['load_after']:.1f} / {row['cpus']}{mark}"


def resolve_threads(threads: int) -> int:
    """The thread count every backend gets: `threads`, or all CPUs this process may use when 0."""
    return threads or load_snapshot()["cpus"]
