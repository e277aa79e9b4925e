"""CPU int8 variants with ONNX Runtime's quantiser.

The image CNN gets static QDQ quantisation calibrated on real training images (per-channel,
Percentile); the recipe encoder and tagger (LSTM + MatMul, no convs) and the BERT ranker get
dynamic quantisation (dynamic quantisation turns convolutions into ConvInteger, which ORT's CPU
provider runs slowly; static QDQ convolutions fuse into int8 kernels).

Weights are U8S8 on every CPU. ORT's U8S8 kernels are exact where the CPU has VNNI; on x86
without VNNI (SSE4.1/AVX2/AVX-512F) they add u8*s8 pairs in int16 and saturate. The SDK (and the
parity check) therefore set ORT's session option `session.x64quantprecision=1` on such CPUs
(seje_sdk.backends.onnxruntime.configure_cpu_int8): ORT then rewrites the weights to U8U8 at load
time and runs exact kernels. So a bundle is correct whatever CPU exported it and whatever CPU
runs it; what differs is speed.

Measured (issue 13, AMD EPYC AVX2 without VNNI, demo run, 64 test images, min/mean cosine to
PyTorch, image graph at batch 32, 2 threads): fp32 221 img/s; U8U8 0.88/0.980 at 0.20x; U8S8
0.76/0.950 at 1.33x (saturated); U8S8 + the option 0.79/0.987 at 1.09x.
Measured here (Intel Xeon with AVX-512 VNNI, 2 cores shared with other jobs, load 7-19, demo
run, 300 test pairs; ratios interleaved in one run, see docs/handoff/int8bert.md):
- U8S8 with the option and without: identical outputs (VNNI is exact), 1.7-1.9x fp32 without it,
  0.75x with it (the option only costs speed on VNNI CPUs, so it is set only where needed).
- What stays fp32: the stem conv (mean cosine 0.983 -> 0.988) and everything after the last conv
  (pooling, the classifier Gemm and its ArgMax, the embedding head: a few small ops). The
  category feature is the Word2vec row of the classifier's top-1 class, a discrete step: with the
  classifier in fp32 on fp32 pooled features, 2-3% of images still flip class because the int8
  backbone moves their features, and those items are the low-cosine ones (min 0.74-0.82, every
  other item >= 0.966). Keeping the depthwise convs fp32 made it worse (mean 0.92).
- Calibration, stem + head fp32: MinMax mean 0.9880, 3.0% flips, R@1 equal to PyTorch both ways;
  Percentile (chosen) mean 0.9897, 2.0% flips, R@1 equal / +0.3; Entropy gave MinMax's numbers.
- ResNet-50 at 224 px (random weights): int8 2.61x fp32 on VNNI, 0.50x with the option.
- Dynamic int8: recipe graph per-tensor reduce_range (7-bit weights) min cosine 0.9987; the BERT
  ranker needs per-channel weights on its MatMuls only (mean cosine 0.993; per-tensor 0.898).
int8 pays where the CPU has VNNI; without VNNI it is exact but slower than fp32 for these CNNs.
measure_speed records the ratio on the exporting CPU in the manifest, with the load.
"""
from __future__ import annotations

import logging
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from seje_sdk.backends.onnxruntime import PRECISION_OPTION, cpu_has_vnni, needs_precise_int8  # noqa: F401 (re-exported)

CALIBRATION_METHODS = ("MinMax", "Percentile", "Entropy")
DEFAULT_CALIBRATION = "Percentile"  # chosen by measurement: see the module docstring
PAYS = 1.2  # int8 is recommended where the image graph runs at least this much faster than fp32


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
                          keep_first_conv: bool = True, keep_classifier: bool = True,
                          method: str = DEFAULT_CALIBRATION, exclude: Sequence[str] = (),
                          measure: bool = True) -> dict[str, Any]:
    """Static QDQ int8 (U8S8, per-channel) of the image graph, calibrated on `calibration` pixels (N,3,H,W) 0..255.

    keep_first_conv / keep_classifier: leave the stem convolution(s) / the category classifier in
    fp32, as are the nodes named in `exclude`. method: an ORT CalibrationMethod name. measure: time
    fp32 vs int8 here (measure_speed) and print whether int8 pays. Returns the settings (for the manifest).
    """
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if calibration.ndim != 4 or len(calibration) == 0:
        raise ValueError(f"calibration pixels must be a non-empty (N,3,H,W) array, got shape {calibration.shape}")
    if method not in CALIBRATION_METHODS:
        raise ValueError(f"calibration method {method!r}: choose one of {', '.join(CALIBRATION_METHODS)}")

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = _batches(calibration, batch_size)

        def get_next(self):  # noqa: ANN201 (ORT's interface)
            return next(self._it, None)

    with tempfile.TemporaryDirectory(prefix="seje-int8-") as tmp, _quiet_quantiser():
        # ORT's recommended pre-pass (graph optimisation + shape inference) before QDQ.
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        classifier = classifier_nodes(pre) if keep_classifier else []
        head = head_nodes(pre) if keep_classifier else []
        excluded = _unique((_first_convs(pre) if keep_first_conv else []) + classifier + head + list(exclude))
        quantize_static(
            str(pre), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
            weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
            calibrate_method=getattr(CalibrationMethod, method), nodes_to_exclude=excluded,
        )
    speed = measure_speed(src, dst, calibration) if measure else None
    if measure:
        print(cpu_note(speed))
    return {"method": f"static QDQ, per-channel, {method}", "format": "U8S8", "speed": speed,
            "calibration_images": int(len(calibration)), "fp32_nodes": excluded, "classifier_nodes": classifier,
            "exported_on_vnni_cpu": cpu_has_vnni(),
            "cpu_session_option": f"{PRECISION_OPTION}=1 on x86 CPUs without VNNI (set by the SDK)"}


def measure_speed(fp32_path: str | Path, int8_path: str | Path, pixels: np.ndarray, batch: int = 32,
                  threads: int = 2, repeats: int = 5) -> dict[str, Any]:
    """Images/s of the fp32 and int8 image graphs on this CPU (SDK session settings), interleaved, median of `repeats`.

    The export records it so the manifest says whether int8 pays on the CPU that exported it.
    """
    import os
    import time

    from export.onnx import ort_session

    x = np.ascontiguousarray(np.resize(pixels, (batch, *pixels.shape[1:])), dtype=np.float32)
    sessions = {"fp32": ort_session(fp32_path, threads), "int8": ort_session(int8_path, threads)}
    load_before = os.getloadavg()[0]
    seconds: dict[str, list[float]] = {name: [] for name in sessions}
    for s in sessions.values():
        s.run(None, {"pixels": x})  # warm-up: allocations, prepacked weights
    for _ in range(repeats):
        for name, s in sessions.items():
            start = time.perf_counter()
            s.run(None, {"pixels": x})
            seconds[name].append(time.perf_counter() - start)
    rate = {name: batch / float(np.median(t)) for name, t in seconds.items()}
    speedup = rate["int8"] / rate["fp32"]
    return {"batch": batch, "threads": threads, "fp32_img_s": round(rate["fp32"], 1),
            "int8_img_s": round(rate["int8"], 1), "speedup": round(speedup, 2), "recommended": speedup >= PAYS,
            "precise_int8_session": needs_precise_int8(), "vnni": cpu_has_vnni(),
            "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2),
            "cpu_count": os.cpu_count()}


def cpu_note(speed: dict[str, Any] | None = None) -> str:
    """One console line on what int8 means on this CPU (and, given measure_speed's result, whether it pays)."""
    kind = ("has VNNI: U8S8 int8 kernels run exact and fast" if cpu_has_vnni() else
            f"has no VNNI: the SDK sets {PRECISION_OPTION}=1 so U8S8 int8 stays exact (slower kernels)")
    note = f"seje-export: this CPU {kind}"
    if speed:
        verdict = "pays" if speed["recommended"] else f"does not pay (< {PAYS}x)"
        note += (f"; image graph int8 {speed['int8_img_s']} vs fp32 {speed['fp32_img_s']} img/s "
                 f"(batch {speed['batch']}, {speed['threads']} threads, load {speed['load_before']}): "
                 f"{speed['speedup']}x, int8 {verdict} here")
    return note


def quantize_graph_dynamic(src: str | Path, dst: str | Path, per_channel: bool = False,
                           op_types: Sequence[str] | None = None) -> dict[str, Any]:
    """Dynamic int8 (7-bit-range int8 weights, activations quantised per batch) for LSTM/MatMul graphs.

    The recipe encoder and tagger use the defaults; the BERT ranker needs per-channel weights on its
    MatMuls only (see the module docstring: per-tensor weights cost it 0.1 of cosine).
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from export.onnx import whitened_path_nodes

    excluded = whitened_path_nodes(onnx.load(str(src), load_external_data=False).graph)  # kept fp32
    with _quiet_quantiser():
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=per_channel, reduce_range=True,
                         op_types_to_quantize=list(op_types) if op_types else None, nodes_to_exclude=excluded)
    return {"method": "dynamic" + (", per-channel" if per_channel else ""), "format": "U8S8, reduce_range",
            "op_types": list(op_types) if op_types else "all", "fp32_nodes": excluded}


RANKER_INT8 = {"per_channel": True, "op_types": ("MatMul",)}  # quantize_graph_dynamic settings for ranker.onnx


def classifier_nodes(path: str | Path) -> list[str]:
    """Nodes only the category classifier needs (ancestors of `category_logits` that the embedding
    reaches only through the top-1 decision), and that decision (ArgMax).

    With a shared backbone that is the classifier's Gemm (`/head/Gemm` in the TorchScript export);
    with a separate classifier CNN it is that whole CNN and its input Resize. Found from the graph's
    edges, not from scope names, so it matches whatever the exporter calls the nodes.
    """
    import onnx

    graph = onnx.load(str(path)).graph
    producer = {out: node for node in graph.node for out in node.output}

    def ancestors(output: str, stop_at: tuple[str, ...] = ()) -> set[str]:
        seen: set[str] = set()
        todo = [output]
        while todo:
            node = producer.get(todo.pop())
            if node is None or node.name in seen:
                continue
            seen.add(node.name)
            if node.op_type not in stop_at:
                todo.extend(node.input)
        return seen

    outputs = {o.name for o in graph.output}
    if not {"category_logits", "embedding"} <= outputs:
        return []
    # Through ArgMax the embedding needs only the class index, not the classifier's numbers: the
    # ArgMax itself is a decision, not arithmetic, and stays in fp32 either way.
    only_classifier = ancestors("category_logits") - ancestors("embedding", stop_at=("ArgMax",))
    # The ArgMax too: ORT's QDQ quantiser would otherwise re-quantise the logits it decides on.
    return [n.name for n in graph.node if n.name in only_classifier or n.op_type == "ArgMax"]


def head_nodes(path: str | Path) -> list[str]:
    """Nodes after the last convolution (pooling, flatten, the classifier and embedding Gemms, ArgMax, ...).

    Keeping them fp32 costs almost nothing (two small Gemms) and lets the category decision run on
    fp32 pooled features instead of re-quantised ones: fewer top-1 flips (see the module docstring).
    """
    import onnx

    nodes = list(onnx.load(str(path)).graph.node)  # topologically sorted
    last_conv = max((i for i, n in enumerate(nodes) if n.op_type == "Conv"), default=len(nodes))
    return [n.name for n in nodes[last_conv + 1:] if n.op_type not in ("Constant", "Shape")]


def _unique(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))


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
