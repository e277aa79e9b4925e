"""ONNX Runtime sessions on CPU or CUDA, checked for the providers that actually loaded.

ORT silently falls back to CPU when the CUDA provider cannot load (a missing libcudnn, say),
so after creating a session we read `get_providers()` and refuse a CUDA session that is not
running on CUDA: we never report a GPU backend that is not there. The provider's own log
lines (which name the missing library) are captured while a CUDA session is created, passed
on to stderr and quoted in that BackendError. CUDA sessions take provider options
(CudaOptions: device, cuDNN algorithm search, memory arena) and preload the CUDA/cuDNN
libraries of the nvidia-* wheels (onnxruntime.preload_dlls, ORT >= 1.21).

Example:
    >>> s = OrtSession("bundle/image_encoder.onnx")                       # doctest: +SKIP
    >>> s.run({"pixels": np.zeros((1, 3, 224, 224), np.float32)})["embedding"].shape  # doctest: +SKIP
    (1, 1024)
"""
from __future__ import annotations

import os
import platform
import sys
import tempfile
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from seje_sdk.errors import BackendError, BundleError, InputError

_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(int64)": np.int64, "tensor(int32)": np.int32}


def _ort():
    try:
        import onnxruntime
    except ImportError as e:  # the runtime comes from an extra (cpu / gpu-cu12 / gpu-cu13)
        from seje_sdk.backends.gpu import install_hint

        raise BackendError(f"no ONNX Runtime is installed (seje needs exactly one): {install_hint(gpu=False)}") from e
    return onnxruntime


def require_onnxruntime() -> None:
    """Raise BackendError naming the extra to install when no ONNX Runtime package is importable."""
    _ort()


SEARCH_MODES = ("HEURISTIC", "EXHAUSTIVE", "DEFAULT")
ARENA_STRATEGIES = ("kSameAsRequested", "kNextPowerOfTwo")


@dataclass(frozen=True)
class CudaOptions:
    """ONNX Runtime CUDA provider options (names as in ORT's CUDA execution provider docs).

    cuDNN's EXHAUSTIVE search (ORT's default) re-times every convolution for each new input
    shape, and a retrieval service sees many batch sizes, so we default to HEURISTIC; the arena
    grows by what is asked instead of doubling. gpu_mem_limit caps the arena (bytes; None = ORT's).
    """

    device_id: int = 0
    cudnn_conv_algo_search: str = "HEURISTIC"
    gpu_mem_limit: int | None = None
    arena_extend_strategy: str = "kSameAsRequested"

    def __post_init__(self):
        if not isinstance(self.device_id, int) or self.device_id < 0:
            raise InputError(f"cuda options: device_id must be an int >= 0, got {self.device_id!r}")
        if self.cudnn_conv_algo_search not in SEARCH_MODES:
            raise InputError(f"cuda options: cudnn_conv_algo_search must be one of {SEARCH_MODES}, "
                             f"got {self.cudnn_conv_algo_search!r}")
        if self.gpu_mem_limit is not None and (not isinstance(self.gpu_mem_limit, int) or self.gpu_mem_limit <= 0):
            raise InputError(f"cuda options: gpu_mem_limit must be a positive number of bytes, got {self.gpu_mem_limit!r}")
        if self.arena_extend_strategy not in ARENA_STRATEGIES:
            raise InputError(f"cuda options: arena_extend_strategy must be one of {ARENA_STRATEGIES}, "
                             f"got {self.arena_extend_strategy!r}")

    @classmethod
    def coerce(cls, value: "CudaOptions | dict[str, Any] | None") -> "CudaOptions":
        """Accept CudaOptions, a dict of its fields, or None (defaults); unknown keys are an InputError."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if not isinstance(value, dict):
            raise InputError(f"cuda options: pass a dict or CudaOptions, got {type(value).__name__}")
        unknown = set(value) - {f.name for f in fields(cls)}
        if unknown:
            raise InputError(f"cuda options: unknown keys {sorted(unknown)}; known: {[f.name for f in fields(cls)]}")
        return cls(**value)

    def provider_options(self) -> dict[str, str]:
        """The dict InferenceSession takes for CUDAExecutionProvider (values as strings, limits omitted when unset)."""
        return {k: str(v) for k, v in asdict(self).items() if v is not None}


def _preload_cuda_libraries(ort) -> str:
    """Load CUDA/cuDNN from the nvidia-* wheels (or torch) before the provider needs them (ORT >= 1.21).

    Returns "" or why preloading failed: the provider may still find system libraries, so the
    reason is only reported if the CUDA provider then fails to load.
    """
    preload = getattr(ort, "preload_dlls", None)
    if preload is None:
        return ""
    try:
        preload()
    except Exception as e:  # noqa: BLE001 - whatever it raises, the session's own check decides
        return f"onnxruntime.preload_dlls() failed: {e}"
    return ""


def _create_capturing_log(create):
    """Run `create()` while capturing what native code writes to stderr; return (result, text).

    The text is written back to stderr as well, so nothing is hidden; it is also what names a
    missing CUDA library when the CUDA provider fails to load.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            result = create()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        text = capture.read().decode(errors="replace")
    if text:
        sys.stderr.write(text)
    return result, text


def _provider_failure(log: str) -> str:
    """The lines of ORT's log that explain a CUDA provider failure (or a pointer to them)."""
    lines = [ln.strip() for ln in log.splitlines() if any(w in ln for w in ("CUDA", "cuda", "cudnn", "cuDNN", "Fail", ".so"))]
    return " | ".join(lines[-4:]) if lines else "ONNX Runtime logged no reason"


def _cuda_session(ort, path: str, options, cuda: CudaOptions):
    """An InferenceSession on CUDA (+ CPU for the nodes CUDA lacks), or BackendError quoting the provider's reason."""
    preload_problem = _preload_cuda_libraries(ort)
    options.log_severity_level = 2  # warnings: the provider's load failure is logged at this level
    providers = [("CUDAExecutionProvider", cuda.provider_options()), "CPUExecutionProvider"]
    try:
        session, log = _create_capturing_log(lambda: ort.InferenceSession(path, sess_options=options, providers=providers))
    except Exception as e:  # ORT raises its own Fail/InvalidGraph types
        raise BundleError(f"{path}: onnxruntime cannot load this model ({e})") from e
    running = list(session.get_providers())
    if running[0] != "CUDAExecutionProvider":
        raise BackendError(f"onnxruntime-cuda: the CUDA provider did not load for {path} (running {running}); "
                           f"ONNX Runtime says: {_provider_failure(log)}" + (f"; {preload_problem}" if preload_problem else ""))
    return session


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


# ORT's intra-op threads spin-wait for the next task by default. The SDK decodes images and
# prepares recipes in its own thread pool while a batch runs, on the same cores: spinning threads
# keep those cores busy doing nothing (docs/runtimes.md, section 2, measured it). CPU sessions
# therefore block instead; SEJE_ORT_SPIN=1 restores ORT's default.
SPIN_OPTION, SPIN_ENV = "session.intra_op.allow_spinning", "SEJE_ORT_SPIN"


def spin_wait() -> bool:
    """Whether CPU sessions let their intra-op threads spin-wait: only with SEJE_ORT_SPIN=1."""
    return os.environ.get(SPIN_ENV) == "1"


def available_providers() -> list[str]:
    """Execution providers this onnxruntime build offers (not a promise that they load)."""
    return list(_ort().get_available_providers())


class OrtSession:
    """An onnxruntime.InferenceSession on `device` ("cpu" or "cuda"); InferenceSession.run is thread-safe."""

    max_batch = None  # ONNX graphs have dynamic batch axes

    def __init__(self, path: str | os.PathLike, device: str = "cpu", intra_op_threads: int = 0,
                 cuda: CudaOptions | dict[str, Any] | None = None, spin: bool = True):
        ort = _ort()
        self.path = str(path)
        if device not in ("cpu", "cuda"):
            raise BackendError(f"unknown onnxruntime device {device!r}; use 'cpu' or 'cuda'")
        if device == "cuda" and "CUDAExecutionProvider" not in ort.get_available_providers():
            from seje_sdk.backends.gpu import install_hint

            raise BackendError(
                f"onnxruntime-cuda: this onnxruntime build has no CUDAExecutionProvider "
                f"(has {ort.get_available_providers()}); {install_hint()} in a fresh venv"
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads  # 0 = ORT default (all cores)
        options.log_severity_level = 3  # errors only on CPU; CUDA sessions log warnings (see _cuda_session)
        # idle worker threads sleep instead of spinning: asked for by `spin=False` (MiniLM's sentence graph,
        # docs/sentence-features.md) and the CPU default unless SEJE_ORT_SPIN=1 (see SPIN_OPTION)
        allow_spin = spin and (device == "cuda" or spin_wait())
        options.add_session_config_entry(SPIN_OPTION, "1" if allow_spin else "0")
        if device == "cuda":
            cuda = CudaOptions.coerce(cuda)
            self._session = _cuda_session(ort, self.path, options, cuda)
            self.device = f"cuda:{cuda.device_id}"
        else:
            configure_cpu_int8(options)  # int8 graphs stay exact on x86 CPUs without VNNI
            try:
                self._session = ort.InferenceSession(self.path, sess_options=options, providers=["CPUExecutionProvider"])
            except Exception as e:  # ORT raises its own Fail/InvalidGraph types
                raise BundleError(f"{self.path}: onnxruntime cannot load this model ({e})") from e
            self.device = "cpu"
        self.providers = list(self._session.get_providers())
        self._inputs = {i.name: _DTYPES.get(i.type, np.float32) for i in self._session.get_inputs()}
        self.input_names = list(self._inputs)
        self.output_names = [o.name for o in self._session.get_outputs()]

    def close(self) -> None:
        """Nothing to free eagerly: ORT releases the session (and its CUDA arena) with the object."""

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run with inputs cast to the graph's declared types; returns all outputs by name."""
        missing = set(self._inputs) - set(feeds)
        if missing:
            raise BackendError(f"{self.path}: missing inputs {sorted(missing)}")
        cast = {n: np.ascontiguousarray(feeds[n], dtype=t) for n, t in self._inputs.items()}
        outputs = self._session.run(self.output_names, cast)
        return dict(zip(self.output_names, outputs))
