"""ONNX Runtime sessions on CPU or CUDA, checked for the providers that actually loaded.

ORT silently falls back to CPU when the CUDA provider cannot load (a missing libcudnn, say),
so after creating a session we read `get_providers()` and refuse a CUDA session that is not
running on CUDA: we never report a GPU backend that is not there.

Example:
    >>> s = OrtSession("bundle/image_encoder.onnx")                       # doctest: +SKIP
    >>> s.run({"pixels": np.zeros((1, 3, 224, 224), np.float32)})["embedding"].shape  # doctest: +SKIP
    (1, 1024)
"""
from __future__ import annotations

import os
import platform
from functools import lru_cache
from pathlib import Path

import numpy as np

from seje_sdk.errors import BackendError, BundleError

_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(int64)": np.int64, "tensor(int32)": np.int32}


def _ort():
    try:
        import onnxruntime
    except ImportError as e:  # pragma: no cover - onnxruntime is a core dependency
        raise BackendError("onnxruntime is not installed: pip install onnxruntime (or onnxruntime-gpu)") from e
    return onnxruntime


# ---------------------------------------------------------------- int8 on x86 CPUs (int8bert)
# ORT's U8S8 int8 kernels on x86 without VNNI (SSE4.1/AVX2/AVX-512F) add pairs of u8*s8 products
# in int16 (VPMADDUBSW), which saturates; ORT's session option below makes it rewrite the s8
# weights to u8 at load time and use the exact U8U8 kernels. With VNNI the U8S8 kernels are exact
# and the option only costs speed (measured on a VNNI Xeon: 410 -> 186 img/s for the cpu preset's
# CNN, same outputs), so we set it exactly where it is needed: x86 without VNNI, or unknown.
PRECISION_OPTION = "session.x64quantprecision"
VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


@lru_cache(maxsize=1)
def cpu_has_vnni() -> bool:
    """True when /proc/cpuinfo lists a VNNI/AMX int8 instruction set (False when unknown)."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return any(f in flags for f in VNNI_FLAGS)


def needs_precise_int8() -> bool:
    """Whether this CPU needs ORT's exact (U8U8) int8 path: x86 without VNNI; env SEJE_INT8_PRECISE=0/1 overrides."""
    forced = os.environ.get("SEJE_INT8_PRECISE")
    if forced in ("0", "1"):
        return forced == "1"
    x86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")
    return x86 and not cpu_has_vnni()


def configure_cpu_int8(options, precise: bool | None = None) -> bool:
    """Set PRECISION_OPTION on ORT SessionOptions when `precise` (default: needs_precise_int8()); returns it."""
    precise = needs_precise_int8() if precise is None else precise
    options.add_session_config_entry(PRECISION_OPTION, "1" if precise else "0")
    return precise


def available_providers() -> list[str]:
    """Execution providers this onnxruntime build offers (not a promise that they load)."""
    return list(_ort().get_available_providers())


class OrtSession:
    """An onnxruntime.InferenceSession on `device` ("cpu" or "cuda"); InferenceSession.run is thread-safe."""

    max_batch = None  # ONNX graphs have dynamic batch axes

    def __init__(self, path: str | os.PathLike, device: str = "cpu", intra_op_threads: int = 0):
        ort = _ort()
        self.path = str(path)
        if device == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise BackendError(
                    f"onnxruntime-cuda: this onnxruntime build has no CUDAExecutionProvider "
                    f"(has {ort.get_available_providers()}); install onnxruntime-gpu (seje[gpu])"
                )
            wanted = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        elif device == "cpu":
            wanted = ["CPUExecutionProvider"]
        else:
            raise BackendError(f"unknown onnxruntime device {device!r}; use 'cpu' or 'cuda'")
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads  # 0 = ORT default (all cores)
        options.log_severity_level = 3  # errors only; ORT's warnings about fallbacks are checked below
        if device == "cpu":
            configure_cpu_int8(options)  # int8 graphs stay exact on x86 CPUs without VNNI
        try:
            self._session = ort.InferenceSession(self.path, sess_options=options, providers=wanted)
        except Exception as e:  # ORT raises its own Fail/InvalidGraph types
            raise BundleError(f"{self.path}: onnxruntime cannot load this model ({e})") from e
        self.providers = list(self._session.get_providers())
        if device == "cuda" and self.providers[0] != "CUDAExecutionProvider":
            raise BackendError(
                f"onnxruntime-cuda: the CUDA provider did not load for {self.path} (running {self.providers}); "
                "check the CUDA/cuDNN libraries that onnxruntime-gpu needs"
            )
        self.device = "cuda:0" if device == "cuda" else "cpu"
        self._inputs = {i.name: _DTYPES.get(i.type, np.float32) for i in self._session.get_inputs()}
        self.input_names = list(self._inputs)
        self.output_names = [o.name for o in self._session.get_outputs()]

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run with inputs cast to the graph's declared types; returns all outputs by name."""
        missing = set(self._inputs) - set(feeds)
        if missing:
            raise BackendError(f"{self.path}: missing inputs {sorted(missing)}")
        cast = {n: np.ascontiguousarray(feeds[n], dtype=t) for n, t in self._inputs.items()}
        outputs = self._session.run(self.output_names, cast)
        return dict(zip(self.output_names, outputs))
