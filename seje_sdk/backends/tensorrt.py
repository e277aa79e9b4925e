"""TensorRT 10 engine sessions (lazy import of `tensorrt` and the CUDA runtime binding).

A serialized engine only runs on the TensorRT version and GPU architecture that built it, so
before deserialising we compare both with what the bundle recorded and refuse a mismatch
with a message that says to rebuild the engines (`seje-export --engine tensorrt`).

Manifest entry read here (written by export): variants["tensorrt"] =
    {"fp16": {"image": "engines/....plan", "recipe": ..., "tagger": ...},
     "tensorrt_version": "10.3.0", "compute_capability": "8.6", "max_batch": 64}
(the version / compute capability may also sit inside each precision entry).

Example:
    >>> s = TrtSession("bundle/engines/image_encoder.fp16.sm86.trt10.3.plan", "10.3.0", "8.6")  # doctest: +SKIP
    >>> s.run({"pixels": batch})["embedding"]                                                   # doctest: +SKIP
"""
from __future__ import annotations

import os
import threading

import numpy as np

from seje_sdk.errors import BackendError


def import_tensorrt():
    """`tensorrt` and the CUDA runtime module, or BackendError saying what to install."""
    try:
        import tensorrt as trt
    except ImportError as e:
        raise BackendError("tensorrt backend: the `tensorrt` package is not installed (pip install 'seje[gpu]')") from e
    try:
        from cuda.bindings import runtime as cudart  # cuda-python >= 12.6
    except ImportError:
        try:
            from cuda import cudart  # older cuda-python layout
        except ImportError as e:
            raise BackendError("tensorrt backend: the CUDA binding `cuda-python` is not installed (pip install cuda-python)") from e
    return trt, cudart


def _check(result, what: str):
    """cuda-python calls return (cudaError_t, *values): raise on error, return the values."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise BackendError(f"tensorrt backend: CUDA {what} failed ({err})")
    return values[0] if len(values) == 1 else values


def gpu_compute_capability(cudart) -> str:
    """'major.minor' of GPU 0, or BackendError when there is no usable GPU."""
    try:
        count = _check(cudart.cudaGetDeviceCount(), "device count")
    except BackendError as e:
        raise BackendError(f"tensorrt backend: no usable NVIDIA GPU ({e})") from e
    if count < 1:
        raise BackendError("tensorrt backend: no NVIDIA GPU found")
    prop = _check(cudart.cudaGetDeviceProperties(0), "device properties")
    return f"{prop.major}.{prop.minor}"


def check_engine_compat(path: str, built_trt: str | None, built_cc: str | None, have_trt: str, have_cc: str) -> None:
    """Refuse an engine built by another TensorRT version or for another GPU architecture."""
    if built_trt is None or built_cc is None:
        raise BackendError(f"{path}: the bundle does not record the TensorRT version / compute capability that built it")
    if str(built_trt) != str(have_trt):
        raise BackendError(
            f"{path}: engine built with TensorRT {built_trt}, but TensorRT {have_trt} is installed; "
            "install that version or rebuild the engines with `seje-export --engine tensorrt`"
        )
    if str(built_cc) != str(have_cc):
        raise BackendError(
            f"{path}: engine built for GPU compute capability {built_cc}, this GPU is {have_cc}; "
            "rebuild the engines on this GPU with `seje-export --engine tensorrt`"
        )


class TrtSession:
    """A deserialised engine + one execution context; `run` is serialised with a lock (contexts are not thread-safe)."""

    providers = ["TensorRT"]
    device = "cuda:0"

    def __init__(self, path: str | os.PathLike, built_trt: str | None, built_cc: str | None, max_batch: int | None = None):
        self.path = str(path)
        self._trt, self._cudart = trt, cudart = import_tensorrt()
        check_engine_compat(self.path, built_trt, built_cc, trt.__version__, gpu_compute_capability(cudart))
        self._runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        with open(self.path, "rb") as f:
            self._engine = self._runtime.deserialize_cuda_engine(f.read())
        if self._engine is None:
            raise BackendError(f"{self.path}: TensorRT could not deserialise this engine (see the log above)")
        self._context = self._engine.create_execution_context()
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        is_input = {n: self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
        self.input_names = [n for n in names if is_input[n]]
        self.output_names = [n for n in names if not is_input[n]]
        self._dtype = {n: np.dtype(trt.nptype(self._engine.get_tensor_dtype(n))) for n in names}
        self.max_batch = max_batch
        self._stream = _check(cudart.cudaStreamCreate(), "stream create")
        self._buffers: dict[str, tuple[int, int]] = {}  # name -> (device pointer, capacity in bytes)
        self._lock = threading.Lock()

    def _device_buffer(self, name: str, nbytes: int) -> int:
        ptr, cap = self._buffers.get(name, (0, 0))
        if nbytes > cap:  # grow-only: reallocate when a bigger batch arrives
            if ptr:
                _check(self._cudart.cudaFree(ptr), "free")
            ptr, cap = _check(self._cudart.cudaMalloc(max(nbytes, 1)), "malloc"), max(nbytes, 1)
            self._buffers[name] = (ptr, cap)
        return ptr

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Copy inputs to the GPU, execute_async_v3, copy outputs back."""
        cudart, ctx = self._cudart, self._context
        h2d, d2h = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        with self._lock:
            hosts = {}
            for name in self.input_names:
                arr = np.ascontiguousarray(feeds[name], dtype=self._dtype[name])
                if not ctx.set_input_shape(name, arr.shape):
                    raise BackendError(f"{self.path}: input {name} shape {arr.shape} is outside the engine's profile")
                ptr = self._device_buffer(name, arr.nbytes)
                _check(cudart.cudaMemcpyAsync(ptr, arr.ctypes.data, arr.nbytes, h2d, self._stream), "copy to GPU")
                ctx.set_tensor_address(name, ptr)
                hosts[name] = arr  # keep alive until the copy has run
            outputs = {}
            for name in self.output_names:
                out = np.empty(tuple(ctx.get_tensor_shape(name)), dtype=self._dtype[name])
                ctx.set_tensor_address(name, self._device_buffer(name, out.nbytes))
                outputs[name] = out
            if not ctx.execute_async_v3(int(self._stream)):
                raise BackendError(f"{self.path}: TensorRT execution failed")
            for name, out in outputs.items():
                ptr = self._buffers[name][0]
                _check(cudart.cudaMemcpyAsync(out.ctypes.data, ptr, out.nbytes, d2h, self._stream), "copy from GPU")
            _check(cudart.cudaStreamSynchronize(self._stream), "synchronize")
        return {n: o.astype(np.float32) if o.dtype == np.float16 else o for n, o in outputs.items()}

    def __del__(self):
        cudart = getattr(self, "_cudart", None)
        for ptr, _ in getattr(self, "_buffers", {}).values():
            cudart.cudaFree(ptr)
