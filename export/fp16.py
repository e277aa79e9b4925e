"""fp16 variants of the fp32 ONNX graphs, for GPU runtimes; inputs and outputs stay fp32.

Uses ONNX Runtime's own converter (`onnxruntime.transformers.float16`, the maintained copy of
onnxconverter-common's), so no extra dependency. Its `keep_io_types` casts are appended at
the end of the node list, which breaks the checker's topological-order rule, so we sort.
"""
from __future__ import annotations

from pathlib import Path


def convert_fp16(src: str | Path, dst: str | Path) -> Path:
    """Write `dst`: `src` with fp16 weights and math, fp32 graph inputs/outputs."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16
    from onnxruntime.transformers.onnx_model import OnnxModel

    model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
    wrapped = OnnxModel(model)
    wrapped.topological_sort()
    dst = Path(dst)
    onnx.save(wrapped.model, str(dst))
    return dst
