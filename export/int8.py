"""CPU int8 variants with ONNX Runtime's quantiser.

The image CNN gets static QDQ quantisation calibrated on real training images (per-channel,
MinMax); the recipe encoder and tagger (LSTM + MatMul, no convs) get dynamic quantisation
(dynamic quantisation turns convolutions into ConvInteger, which ORT's CPU provider runs
slowly; static QDQ convolutions fuse into int8 kernels).

Weight format depends on the CPU. ORT's fast U8S8 kernels use VNNI where the CPU has it; without
VNNI (plain AVX2) they use VPMADDUBSW, whose int16 accumulation saturates (ORT's quantisation
docs warn about it). Measured on this AVX2 machine (cosine to fp32, 1 thread, batch 16):
- tiny run, ResNet-18 at 64 px, 25 test images: U8S8 min 0.911; U8U8 min 0.987; U8U8 with the
  first convolution in fp32 min 0.9945 (chosen); dynamic recipe graph U8S8 min 0.976,
  reduce_range (7-bit weights) 0.9999 (chosen), U8U8 0.9994.
- EfficientNet-Lite0 at 128 px (the cpu preset), 32 images: U8S8 min 0.854 at 703 ms; U8U8 min
  0.973 at 3043 ms; U8U8 with the classifier in fp32 and 96 calibration images min 0.981 at
  1560 ms; fp32 670 ms. Without VNNI, int8 convolutions are slower than fp32 here.
So: VNNI -> U8S8 (fast, no saturation); otherwise U8U8 (correct, slow) and a console note.
The category classifier stays fp32 by default: its top-1 class picks the category vector, a
discrete step that quantisation noise flips (3 of 32 images flipped with it quantised).
"""
from __future__ import annotations

import logging
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
# The ImageEncoder's classifier and its input resize, by the TorchScript exporter's scope names.
CLASSIFIER_SCOPES = ("/classifier/",)


def cpu_has_vnni() -> bool:
    """True when /proc/cpuinfo lists a VNNI/AMX int8 instruction set (False when unknown)."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return any(f in flags for f in VNNI_FLAGS)


@contextmanager
def _quiet_quantiser():
    """ORT's quantiser logs advice ("consider pre-processing", per-channel axis notes) on the root
    logger at WARNING; we already follow it where it applies, so keep the console for progress."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _batches(pixels: np.ndarray, batch_size: int) -> Iterator[dict[str, np.ndarray]]:
    for start in range(0, len(pixels), batch_size):
        yield {"pixels": np.ascontiguousarray(pixels[start:start + batch_size], dtype=np.float32)}


def quantize_image_static(src: str | Path, dst: str | Path, calibration: np.ndarray, batch_size: int = 8,
                          keep_first_conv: bool = True, keep_scopes: Sequence[str] = CLASSIFIER_SCOPES,
                          vnni: bool | None = None) -> dict[str, Any]:
    """Static QDQ int8 of the image graph, calibrated (MinMax) on `calibration` pixels (N,3,H,W) 0..255.

    keep_first_conv / keep_scopes: leave the stem convolution(s) and the classifier in fp32.
    Returns the settings used (for the manifest).
    """
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if calibration.ndim != 4 or len(calibration) == 0:
        raise ValueError(f"calibration pixels must be a non-empty (N,3,H,W) array, got shape {calibration.shape}")
    vnni = cpu_has_vnni() if vnni is None else vnni

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = _batches(calibration, batch_size)

        def get_next(self):  # noqa: ANN201 (ORT's interface)
            return next(self._it, None)

    with tempfile.TemporaryDirectory(prefix="seje-int8-") as tmp, _quiet_quantiser():
        # ORT's recommended pre-pass (graph optimisation + shape inference) before QDQ.
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        excluded = (_first_convs(pre) if keep_first_conv else []) + _scoped_nodes(pre, keep_scopes)
        quantize_static(
            str(pre), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
            weight_type=QuantType.QInt8 if vnni else QuantType.QUInt8, activation_type=QuantType.QUInt8,
            calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=excluded,
        )
    return {"method": "static QDQ, per-channel, MinMax", "format": "U8S8" if vnni else "U8U8",
            "calibration_images": int(len(calibration)), "fp32_nodes": len(excluded), "exported_on_vnni_cpu": vnni}


def quantize_graph_dynamic(src: str | Path, dst: str | Path) -> dict[str, Any]:
    """Dynamic int8 (7-bit-range int8 weights, activations quantised per batch) for LSTM/MatMul graphs."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    import onnx

    # The recipe encoder's skip-instruction part (sentence LSTM, the whitening after it and the
    # instruction LSTM that reads its output) stays fp32: whitening magnifies the small differences
    # between sentence vectors, and int8 noise there is magnified with them (tiny chain: recipe
    # cosine to PyTorch 0.23 with everything quantised, 0.95 with only the sentence LSTM quantised).
    graph = onnx.load(str(src)).graph
    excluded = [n.name for n in graph.node if any("sentence_whitening" in i or "sentence_mean" in i for i in n.input)
                or n.name.startswith(("/sentence_encoder", "/instructions"))]
    with _quiet_quantiser():
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=False, reduce_range=True,
                         nodes_to_exclude=excluded)
    return {"method": "dynamic", "format": "U8S8, reduce_range", "fp32_nodes": len(excluded)}


def _scoped_nodes(path: Path, scopes: Sequence[str]) -> list[str]:
    """Nodes whose exporter scope name starts with one of `scopes`, plus Resize nodes feeding them."""
    if not scopes:
        return []
    import onnx

    graph = onnx.load(str(path)).graph
    inside = [n for n in graph.node if n.name.startswith(tuple(scopes))]
    feeds = {x for n in inside for x in n.input}
    resizes = [n for n in graph.node if n.op_type == "Resize" and set(n.output) & feeds]
    return [n.name for n in inside + resizes]


def _first_convs(path: Path) -> list[str]:
    """Names of the Conv nodes fed (through elementwise ops only) by the graph input: the stems."""
    import onnx

    graph = onnx.load(str(path)).graph
    reached = {i.name for i in graph.input}
    stems = []
    for node in graph.node:  # nodes are topologically sorted
        if not any(x in reached for x in node.input):
            continue
        if node.op_type == "Conv":
            stems.append(node.name)
        elif node.op_type in ("Sub", "Div", "Mul", "Add", "Resize", "Cast"):
            reached.update(node.output)
    return stems
