"""TensorRT engine sessions for a service: a pool of execution contexts, pinned buffers, async copies.

An engine only runs on the TensorRT version, CUDA major and GPU architecture that built it, so
before deserialising we compare all three with what the bundle recorded and refuse a mismatch
with the command that rebuilds the engines. Each concurrent caller borrows one "slot" (its own
execution context, CUDA stream, device buffers and page-locked host buffers): copies and
inference are queued on that stream asynchronously and only the stream is synchronised, so
callers never wait on each other while a slot is free. Everything CUDA-side is released by
`close()` (Retriever.close calls it) or, at the latest, when the session is collected or the
interpreter exits.

Manifest entry read here (written by export): variants["tensorrt"] =
    {"fp16": {"image": "engines/....plan", ...}, "tensorrt_version": "10.16.1.11",
     "compute_capability": "9.0", "cuda": "12.9", "max_batch": 64}

Example:
    >>> s = TrtSession("bundle/engines/image_encoder.fp16.sm90.trt10.16.plan", "10.16.1.11", "9.0")  # doctest: +SKIP
    >>> s.run({"pixels": batch})["embedding"]                                                          # doctest: +SKIP
"""
from __future__ import annotations

import ctypes
import os
import queue
import threading
import weakref
from typing import Any

import numpy as np

from seje_sdk.backends.gpu import check, import_tensorrt, tensorrt_stack
from seje_sdk.errors import BackendError

DEFAULT_CONTEXTS = 4  # concurrent callers served at once; each costs one context's activation memory
REBUILD = "rebuild the engines on this machine: `seje-export RUN_DIR --out BUNDLE_DIR --engine tensorrt [--fp16]`"

__all__ = ["TrtSession", "check_engine_compat", "import_tensorrt", "DEFAULT_CONTEXTS"]


def check_engine_compat(path: str, built_trt: str | None, built_cc: str | None, have_trt: str, have_cc: str,
                        built_cuda: str | None = None, have_cuda: str | None = None) -> None:
    """Refuse an engine built by another TensorRT version, CUDA major or GPU architecture."""
    if built_trt is None or built_cc is None:
        raise BackendError(f"{path}: the bundle does not record the TensorRT version / compute capability that built it; {REBUILD}")
    if str(built_trt) != str(have_trt):
        raise BackendError(f"{path}: engine built with TensorRT {built_trt}, but TensorRT {have_trt} is installed; "
                           f"install TensorRT {built_trt} or {REBUILD}")
    if built_cuda and have_cuda and str(built_cuda).split(".")[0] != str(have_cuda).split(".")[0]:
        raise BackendError(f"{path}: engine built for CUDA {built_cuda}, this install runs CUDA {have_cuda}; {REBUILD}")
    if str(built_cc) != str(have_cc):
        raise BackendError(f"{path}: engine built for GPU compute capability {built_cc}, this GPU is {have_cc}; {REBUILD}")


class _Slot:
    """One caller's share: execution context, stream, and grow-only device + pinned host buffers per tensor."""

    def __init__(self, engine: Any, cudart: Any, resources: dict[str, Any]):
        self.context = engine.create_execution_context()
        if self.context is None:
            raise BackendError("TensorRT could not create an execution context (out of GPU memory?)")
        self.stream = check(cudart.cudaStreamCreateWithFlags(cudart.cudaStreamNonBlocking), "stream create")
        resources["streams"].append(self.stream)
        self.device: dict[str, tuple[int, int]] = {}  # name -> (pointer, capacity in bytes)
        self.host: dict[str, tuple[int, int]] = {}
        self._cudart, self._resources = cudart, resources

    def buffers(self, name: str, nbytes: int) -> tuple[int, int]:
        """(device pointer, pinned host pointer) holding at least `nbytes` for tensor `name`."""
        cudart, nbytes = self._cudart, max(nbytes, 1)
        dev = self._grow(self.device, "device", name, nbytes, cudart.cudaMalloc, cudart.cudaFree)
        host = self._grow(self.host, "host", name, nbytes, cudart.cudaMallocHost, cudart.cudaFreeHost)
        return dev, host

    def _grow(self, store: dict[str, tuple[int, int]], kind: str, name: str, nbytes: int, alloc, free) -> int:
        """Grow-only buffer: reallocate (and free the old one) when a bigger batch arrives."""
        ptr, cap = store.get(name, (0, 0))
        if nbytes > cap:
            if ptr:
                self._resources[kind].remove(ptr)
                check(free(ptr), f"free of {kind} memory")
            ptr = int(check(alloc(nbytes), f"{kind} allocation of {nbytes} bytes"))
            self._resources[kind].append(ptr)
            store[name] = (ptr, nbytes)
        return int(ptr)


def _pinned_view(ptr: int, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A numpy array over page-locked memory at `ptr` (no copy)."""
    count = int(np.prod(shape)) if shape else 1
    raw = (ctypes.c_byte * (count * dtype.itemsize)).from_address(ptr)
    return np.frombuffer(raw, dtype=dtype, count=count).reshape(shape)


def _release(cudart: Any, resources: dict[str, Any]) -> None:
    """Free every CUDA resource of one session: contexts before the engine, the engine before the runtime."""
    slots = resources["slots"]
    while not slots.empty():
        slots.get_nowait().context = None  # drops the execution context
    objects = resources["objects"]
    while objects:
        objects.pop(0)  # the engine first, then the runtime that deserialised it
    for ptr in resources["device"]:
        cudart.cudaFree(ptr)
    for ptr in resources["host"]:
        cudart.cudaFreeHost(ptr)
    for stream in resources["streams"]:
        cudart.cudaStreamDestroy(stream)
    for key in ("device", "host", "streams"):
        resources[key].clear()


class TrtSession:
    """A deserialised engine served by up to `contexts` concurrent callers; `run` is thread-safe."""

    providers = ["TensorRT"]

    def __init__(self, path: str | os.PathLike, built_trt: str | None, built_cc: str | None, max_batch: int | None = None,
                 contexts: int = DEFAULT_CONTEXTS, built_cuda: str | None = None):
        self.path = str(path)
        if contexts < 1:
            raise BackendError(f"{self.path}: contexts must be >= 1, got {contexts}")
        trt, cudart, gpu = tensorrt_stack()
        check_engine_compat(self.path, built_trt, built_cc, trt.__version__, gpu.compute_capability,
                            built_cuda, gpu.cuda_runtime)
        self._cudart, self.device, self.max_batch = cudart, "cuda:0", max_batch
        # Everything CUDA-side lives in this dict, which the finalizer frees without holding `self`.
        self._free: queue.LifoQueue[_Slot] = queue.LifoQueue()
        self._resources: dict[str, Any] = {"slots": self._free, "objects": [], "device": [], "host": [], "streams": []}
        self._finalizer = weakref.finalize(self, _release, cudart, self._resources)
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        with open(self.path, "rb") as f:
            engine = runtime.deserialize_cuda_engine(f.read())
        if engine is None:
            raise BackendError(f"{self.path}: TensorRT could not deserialise this engine (see the log above); {REBUILD}")
        self._resources["objects"].extend([engine, runtime])
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        is_input = {n: engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
        self.input_names = [n for n in names if is_input[n]]
        self.output_names = [n for n in names if not is_input[n]]
        self._dtype = {n: np.dtype(trt.nptype(engine.get_tensor_dtype(n))) for n in names}
        self._free.put(_Slot(engine, cudart, self._resources))  # one now: fails here, not on the first request
        self._created, self._limit, self._grow = 1, contexts, threading.Lock()

    def _borrow(self) -> _Slot:
        """A free slot; a new one while under the pool limit; else wait for one to come back."""
        try:
            return self._free.get_nowait()
        except queue.Empty:
            pass
        with self._grow:
            if self._created < self._limit:
                slot = _Slot(self._resources["objects"][0], self._cudart, self._resources)
                self._created += 1
                return slot
        return self._free.get()

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Copy inputs to the GPU, execute_async_v3, copy outputs back, all on the borrowed slot's stream."""
        if not self._finalizer.alive:
            raise BackendError(f"{self.path}: this TensorRT session was closed")
        missing = set(self.input_names) - set(feeds)
        if missing:
            raise BackendError(f"{self.path}: missing inputs {sorted(missing)}")
        slot = self._borrow()
        try:
            return self._run_on(slot, feeds)
        except BaseException:
            self._cudart.cudaStreamSynchronize(slot.stream)  # let queued copies finish before the buffers are reused
            raise
        finally:
            self._free.put(slot)

    def _run_on(self, slot: _Slot, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        cudart, ctx, stream = self._cudart, slot.context, slot.stream
        h2d, d2h = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        for name in self.input_names:
            arr = np.asarray(feeds[name], dtype=self._dtype[name])
            if not ctx.set_input_shape(name, arr.shape):
                raise BackendError(f"{self.path}: input {name} shape {arr.shape} is outside the engine's profile")
            dev, host = slot.buffers(name, arr.nbytes)
            np.copyto(_pinned_view(host, arr.shape, arr.dtype), arr)  # pinned source: the copy is truly async
            check(cudart.cudaMemcpyAsync(dev, host, arr.nbytes, h2d, stream), "copy to GPU")
            ctx.set_tensor_address(name, dev)
        pinned_out = {}
        for name in self.output_names:
            shape, dtype = tuple(ctx.get_tensor_shape(name)), self._dtype[name]
            nbytes = int(np.prod(shape)) * dtype.itemsize
            dev, host = slot.buffers(name, nbytes)
            ctx.set_tensor_address(name, dev)
            pinned_out[name] = (dev, host, shape, nbytes)
        if not ctx.execute_async_v3(int(stream)):
            raise BackendError(f"{self.path}: TensorRT execution failed (see the log above)")
        for dev, host, _, nbytes in pinned_out.values():
            check(cudart.cudaMemcpyAsync(host, dev, nbytes, d2h, stream), "copy from GPU")
        check(cudart.cudaStreamSynchronize(stream), "synchronize")
        outputs = {}
        for name, (_, host, shape, _) in pinned_out.items():
            out = _pinned_view(host, shape, self._dtype[name]).copy()  # the slot's buffer is reused next call
            outputs[name] = out.astype(np.float32) if out.dtype == np.float16 else out
        return outputs

    def close(self) -> None:
        """Free the contexts, streams, device and pinned memory now (idempotent); call it after the last run."""
        self._finalizer()
