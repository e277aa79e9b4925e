"""The GPU stack under the TensorRT backend: NVIDIA driver, cuda-python, TensorRT, and GPU 0.

Each probe names the exact missing piece (no driver, no GPU, no tensorrt, no cuda-python, CUDA
major mismatch) and every install suggestion names the extra that fits this machine: the
driver's CUDA version decides between `seje[gpu-cu12]` and `seje[gpu-cu13]`.

Example:
    >>> install_hint()           # on a machine whose driver supports CUDA 13   # doctest: +SKIP
    "pip install 'seje[gpu-cu13]'"
"""
from __future__ import annotations

import ctypes
import importlib.metadata
import re
from dataclasses import dataclass
from typing import Any

from seje_sdk.errors import BackendError

CUDA_MAJORS = (12, 13)  # the CUDA majors our gpu-cuNN extras exist for


def driver_cuda_version() -> int | None:
    """The CUDA version the NVIDIA driver supports (e.g. 12080), or None when no driver is installed.

    Asks libcuda directly (cuDriverGetVersion needs no cuInit and no GPU), so it works before
    any Python CUDA package is installed.
    """
    try:
        libcuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return None
    version = ctypes.c_int(0)
    if libcuda.cuDriverGetVersion(ctypes.byref(version)) != 0:
        return None
    return version.value


def gpu_extra(driver_version: int | None = None) -> str:
    """The seje extra whose CUDA major this driver runs: gpu-cu13 from CUDA 13.0 drivers on, else gpu-cu12."""
    version = driver_cuda_version() if driver_version is None else driver_version
    return "gpu-cu13" if version and version >= 13000 else "gpu-cu12"


def install_hint(gpu: bool = True) -> str:
    """The pip command for a runtime that fits this machine: the GPU extra of its driver's CUDA major, else CPU.

    gpu=False asks for any runtime (the CPU one, plus the GPU one where a driver exists).
    """
    driver = driver_cuda_version()
    if driver is None:
        if gpu:
            return ("on a machine with an NVIDIA driver: pip install 'seje[gpu-cu12]' (CUDA 12 driver) "
                    "or 'seje[gpu-cu13]' (CUDA 13 driver)")
        return "pip install 'seje[cpu]'"
    extra = f"pip install 'seje[{gpu_extra(driver)}]'"
    return extra if gpu else f"pip install 'seje[cpu]', or {extra} for this machine's NVIDIA GPU"


def _cuda_major_of_distribution(module: str) -> int | None:
    """The CUDA major a pip-installed package was built for, from its distribution name (tensorrt-cu12 -> 12)."""
    for dist in importlib.metadata.packages_distributions().get(module, []):
        found = re.search(r"cu(\d+)", dist)
        if found:
            return int(found.group(1))
    return None


def import_tensorrt() -> tuple[Any, Any]:
    """`tensorrt` and cuda-python's runtime module of the same CUDA major, or BackendError naming what is missing."""
    try:
        import tensorrt as trt
    except ImportError as e:
        raise BackendError(f"tensorrt backend: the `tensorrt` package is not installed ({install_hint()})") from e
    try:
        from cuda.bindings import runtime as cudart  # cuda-python 12.6+ and 13 (13 removed `from cuda import cudart`)
    except ImportError as e:
        raise BackendError(f"tensorrt backend: cuda-python (cuda.bindings.runtime) is not installed ({install_hint()})") from e
    trt_major = _cuda_major_of_distribution("tensorrt")
    _, runtime_version = cudart.cudaRuntimeGetVersion()
    cuda_major = int(runtime_version) // 1000 if runtime_version else None
    if trt_major and cuda_major and trt_major != cuda_major:
        raise BackendError(
            f"tensorrt backend: CUDA major mismatch: TensorRT is built for CUDA {trt_major} but cuda-python is "
            f"CUDA {cuda_major}; install one matching set in a fresh venv: pip install 'seje[gpu-cu{trt_major}]'")
    return trt, cudart


def check(result: Any, what: str) -> Any:
    """cuda-python calls return (cudaError_t, *values): raise BackendError on an error, return the value(s)."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise BackendError(f"tensorrt backend: CUDA {what} failed ({_error_name(err)})")
    return values[0] if len(values) == 1 else values


def _error_name(err: Any) -> str:
    return str(getattr(err, "name", err))


@dataclass(frozen=True)
class GpuInfo:
    """GPU 0 as the CUDA runtime sees it, and the versions that an engine depends on."""

    name: str
    compute_capability: str  # "9.0"
    cuda_runtime: str  # "12.9"
    cuda_driver: str  # "13.0": the newest CUDA the driver supports


def _dotted(version: int) -> str:
    return f"{version // 1000}.{version % 1000 // 10}"


def tensorrt_stack() -> tuple[Any, Any, GpuInfo]:
    """(tensorrt, cuda runtime, GPU 0) checked in the order a user fixes them: driver, packages, GPU."""
    driver = driver_cuda_version()
    if driver is None:
        raise BackendError("no GPU: no NVIDIA driver found (libcuda.so.1 cannot be loaded)")
    trt, cudart = import_tensorrt()
    return trt, cudart, probe_gpu(cudart, driver)


def probe_gpu(cudart: Any, driver: int) -> GpuInfo:
    """GPU 0's name and compute capability under a driver supporting CUDA `driver`, or BackendError: driver too old, no GPU."""
    err, count = cudart.cudaGetDeviceCount()
    runtime = int(check(cudart.cudaRuntimeGetVersion(), "runtime version"))
    if int(err) == int(cudart.cudaError_t.cudaErrorInsufficientDriver):
        raise BackendError(f"the NVIDIA driver supports CUDA {_dotted(driver)}, older than the CUDA {_dotted(runtime)} "
                           f"runtime installed; update the driver or use {install_hint()} in a fresh venv")
    if int(err) == int(cudart.cudaError_t.cudaErrorNoDevice) or (int(err) == 0 and not count):
        raise BackendError("no GPU: the NVIDIA driver is installed but sees no GPU (check CUDA_VISIBLE_DEVICES)")
    if int(err) != 0:
        raise BackendError(f"no GPU: CUDA cannot list devices ({_error_name(err)})")
    attr = cudart.cudaDeviceAttr
    major = check(cudart.cudaDeviceGetAttribute(attr.cudaDevAttrComputeCapabilityMajor, 0), "compute capability")
    minor = check(cudart.cudaDeviceGetAttribute(attr.cudaDevAttrComputeCapabilityMinor, 0), "compute capability")
    name = check(cudart.cudaGetDeviceProperties(0), "device properties").name
    name = name.decode(errors="replace") if isinstance(name, bytes) else str(name)
    return GpuInfo(name.strip("\x00 "), f"{major}.{minor}", _dotted(runtime), _dotted(driver))
