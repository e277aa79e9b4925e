"""OpenVINO sessions on the CPU, over the bundle's own ONNX files (fp32, fp16, int8 QDQ).

OpenVINO reads ONNX directly, so a bundle needs no extra files: `Retriever.load(bundle,
backend="openvino", precision=...)` compiles the same graphs ONNX Runtime runs. Install the
`openvino` extra (pip install "seje[openvino]"); it is imported only when this backend is asked for.

Two settings keep the numbers the bundle was verified with:
- INFERENCE_PRECISION_HINT=f32: on CPUs with bf16 support (AVX512_BF16, AMX) OpenVINO's default
  is to compute fp32 graphs in bf16, which moves embeddings far beyond the export's fp32 parity;
- dynamic shapes are kept as exported (batch, sentences, tokens), compiled once.
int8 QDQ graphs run as OpenVINO's own int8 kernels (its low-precision transformations fold
the Quantize/DequantizeLinear pairs), VNNI where the CPU has it.
"""
from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

from seje_sdk.errors import BackendError, BundleError

_DTYPES = {"f32": np.float32, "f16": np.float16, "i64": np.int64, "i32": np.int32}


def _ov() -> Any:
    try:
        import openvino
    except ImportError as e:
        raise BackendError('openvino: the OpenVINO runtime is not installed; pip install "seje[openvino]"') from e
    return openvino


def _onnx_name(port: Any) -> str:
    """The ONNX tensor name of a model input/output as read (one name per port before compilation)."""
    return sorted(port.get_names())[0] if port.get_names() else port.get_node().get_friendly_name()


class OvSession:
    """A CompiledModel on the CPU; each thread gets its own InferRequest, so `run` is thread-safe."""

    max_batch = None  # ONNX graphs have dynamic batch axes
    device = "cpu"

    def __init__(self, path: str | os.PathLike, threads: int = 0, performance_hint: str = "LATENCY"):
        ov = _ov()
        self.path = str(path)
        config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": performance_hint}
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        try:
            core = ov.Core()
            model = core.read_model(self.path)
            self._compiled = core.compile_model(model, "CPU", config)
        except Exception as e:  # OpenVINO raises RuntimeError subclasses of its own
            raise BundleError(f"{self.path}: OpenVINO cannot compile this model ({e})") from e
        self.providers = [f"OpenVINO {ov.__version__} CPU"]
        # Names from the model as read (the ONNX names); compiling may merge extra tensor names into a
        # port (an fp16 graph's input Cast), so ports are addressed by position, in the same order.
        self._inputs = {_onnx_name(p): _DTYPES.get(p.get_element_type().get_type_name(), np.float32)
                        for p in model.inputs}
        self.input_names = list(self._inputs)
        self.output_names = [_onnx_name(p) for p in model.outputs]
        self._local = threading.local()

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run with inputs cast to the graph's declared types; returns all outputs by name (copies)."""
        missing = set(self._inputs) - set(feeds)
        if missing:
            raise BackendError(f"{self.path}: missing inputs {sorted(missing)}")
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self._compiled.create_infer_request()
        cast = {i: np.ascontiguousarray(feeds[n], dtype=t) for i, (n, t) in enumerate(self._inputs.items())}
        result = request.infer(cast)
        # The request's output tensors are reused by its next call: hand back our own arrays.
        return {name: np.array(result[port]) for name, port in zip(self.output_names, self._compiled.outputs)}

    def close(self) -> None:
        """Nothing to free eagerly: the compiled model goes with the object."""
