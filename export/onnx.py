"""PyTorch -> ONNX for the three exported graphs (image encoder, recipe encoder, tagger).

We use the TorchScript-based exporter (`dynamo=False`). Measured here with torch 2.14 on an
LSTM-over-padded-sentences module: it exports in 0.2 s and matches PyTorch to 2e-7 at batch/
sequence sizes other than the example's; the dynamo exporter took 10 s and produced a graph
that fails `onnx.checker` (an intermediate value reused the output name `embedding`).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from seje_sdk.errors import BundleError

# Opset 17: the newest one that TensorRT 10's ONNX parser, ORT >= 1.14 and the ORT quantiser
# all handle, and it has every op these graphs use (LSTM, GatherElements, ReduceL2, Resize).
DEFAULT_OPSET = 17


@dataclass(frozen=True)
class GraphSpec:
    """Name, I/O names and dynamic axes of one exported graph (fixed by docs/ARCHITECTURE.md)."""

    role: str  # "image" | "recipe" | "tagger": the key in the manifest's variants
    stem: str  # file stem: image_encoder.onnx, image_encoder.fp16.onnx, ...
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    dynamic_axes: dict[str, dict[int, str]] = field(default_factory=dict)

    def filename(self, precision: str = "fp32") -> str:
        return f"{self.stem}.onnx" if precision == "fp32" else f"{self.stem}.{precision}.onnx"


IMAGE = GraphSpec(
    "image", "image_encoder", ("pixels",), ("embedding", "category_logits"),
    {"pixels": {0: "batch"}, "embedding": {0: "batch"}, "category_logits": {0: "batch"}},
)
RECIPE = GraphSpec(
    "recipe", "recipe_encoder", ("sentence_tokens", "sentence_lengths", "term_feature"), ("embedding",),
    {
        "sentence_tokens": {0: "batch", 1: "sentences", 2: "tokens"},
        "sentence_lengths": {0: "batch", 1: "sentences"},
        "term_feature": {0: "batch"},
        "embedding": {0: "batch"},
    },
)
TAGGER = GraphSpec(
    "tagger", "tagger", ("tokens", "lengths"), ("logits",),
    {"tokens": {0: "batch", 1: "tokens"}, "lengths": {0: "batch"}, "logits": {0: "batch", 1: "tokens"}},
)
GRAPHS = (IMAGE, RECIPE, TAGGER)
# MiniLM bundles (docs/sentence-features.md): MiniLM is its own graph, run by the SDK on the batch's
# real texts in length buckets, and the recipe graph takes the sentence vectors (B,S,D) and each
# recipe's slot count, as training's precomputed-vector path does.
SENTENCE = GraphSpec(
    "sentence", "sentence_encoder", ("input_ids", "attention_mask"), ("embedding",),
    {"input_ids": {0: "texts", 1: "tokens"}, "attention_mask": {0: "texts", 1: "tokens"}, "embedding": {0: "texts"}},
)
RECIPE_VECTORS = GraphSpec(
    "recipe", "recipe_encoder", ("sentence_vectors", "num_sentences", "term_feature"), ("embedding",),
    {"sentence_vectors": {0: "batch", 1: "sentences"}, "num_sentences": {0: "batch"}, "term_feature": {0: "batch"},
     "embedding": {0: "batch"}},
)
SPLIT_GRAPHS = (IMAGE, RECIPE_VECTORS, TAGGER, SENTENCE)
# Only for features built with the `bert` key-term ranker: the sentence embedder KeyBERT-style
# ranking needs at run time (trainer.features.rankers.SentenceEmbedder), fp32 only.
RANKER = GraphSpec(
    "ranker", "ranker", ("input_ids", "attention_mask"), ("embedding",),
    {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}, "embedding": {0: "batch"}},
)


def export_graph(module: Any, example: Sequence[np.ndarray], spec: GraphSpec, path: str | Path,
                 opset: int = DEFAULT_OPSET) -> Path:
    """Trace `module` (eval mode) on `example` inputs and write `path` with spec's names and axes."""
    import torch

    path = Path(path)
    module = module.eval()
    args = tuple(torch.as_tensor(np.ascontiguousarray(x)) for x in example)
    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter warns about its own deprecation and about LSTMs traced with
        # a batch size: both are expected here (axes are declared dynamic below and verified).
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, args, str(path), dynamo=False, opset_version=opset, do_constant_folding=True,
            input_names=list(spec.inputs), output_names=list(spec.outputs), dynamic_axes=spec.dynamic_axes,
        )
    return path


def check_onnx(path: str | Path) -> None:
    """onnx.checker with full_check (shape inference included); BundleError naming the file on failure."""
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as e:  # onnx raises ValidationError / InferenceError / protobuf errors
        raise BundleError(f"{Path(path).name}: fails onnx.checker.check_model(full_check=True): {e}") from e


def ort_session(path: str | Path, threads: int = 0, precise_int8: bool | None = None) -> Any:
    """A CPU ONNX Runtime session (threads=0: ORT's default), int8-configured as the SDK's (configure_cpu_int8)."""
    import onnxruntime as ort

    from seje_sdk.backends.onnxruntime import configure_cpu_int8

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    configure_cpu_int8(options, precise_int8)
    options.log_severity_level = 3  # errors only; ORT's warnings about unused initialisers are noise
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def io_names(path: str | Path) -> tuple[list[str], list[str]]:
    """Input and output names of an ONNX file (to verify them against the contract)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    initialisers = {t.name for t in graph.initializer}
    return [i.name for i in graph.input if i.name not in initialisers], [o.name for o in graph.output]


def check_io(path: str | Path, spec: GraphSpec) -> None:
    """Raise BundleError if the file's I/O names differ from the contract."""
    inputs, outputs = io_names(path)
    if tuple(inputs) != spec.inputs or tuple(outputs) != spec.outputs:
        raise BundleError(
            f"{Path(path).name}: I/O names {inputs} -> {outputs}, expected {list(spec.inputs)} -> {list(spec.outputs)}"
        )


def whitened_path_nodes(graph: Any) -> list[str]:
    """The recipe encoder's skip-instruction path: sentence LSTM, the whitening after it, instruction LSTM.

    fp16 and int8 variants keep these nodes fp32: whitening magnifies the small differences between
    sentence vectors, and rounding noise there is magnified with them (tiny chain: recipe cosine to
    PyTorch 0.23 with everything int8, 0.54 with only the whitening kept fp32; the fp16 graph fell to
    a minimum cosine of 0.87). Graphs without whitening (tagger, ranker, image) get an empty list.
    """
    if not any(i.endswith("sentence_whitening") for n in graph.node for i in n.input):
        return []
    return [n.name for n in graph.node
            if any(i.endswith(("sentence_whitening", "sentence_mean")) for i in n.input)
            or n.name.startswith(("/sentence_encoder", "/instructions"))]

