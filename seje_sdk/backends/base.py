"""The one interface every inference backend implements: named numpy arrays in, out."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from seje_sdk.errors import BackendError, BundleError

if TYPE_CHECKING:
    from seje_sdk.bundle import Bundle

BACKENDS = ("onnxruntime", "onnxruntime-cuda", "tensorrt", "openvino")
PRECISIONS = ("fp32", "fp16", "int8")  # the variants an exported bundle may hold
# Preference order under backend="auto": fastest that can actually run here first. OpenVINO is
# never picked by auto: it is asked for by name (docs/runtimes.md says where it wins).
AUTO_ORDER = ("tensorrt", "onnxruntime-cuda", "onnxruntime")

# The ONNX I/O contract of docs/ARCHITECTURE.md: (inputs, outputs that must exist).
IO_CONTRACT = {"image": ({"pixels"}, {"embedding"}), "recipe": ({"sentence_tokens", "sentence_lengths", "term_feature"}, {"embedding"}),
               "tagger": ({"tokens", "lengths"}, {"logits"}),
               # MiniLM bundles (seje_sdk.sentences): MiniLM's own graph, and the recipe graph on its vectors
               "sentence": ({"input_ids", "attention_mask"}, {"embedding"}),
               "recipe_vectors": ({"sentence_vectors", "num_sentences", "term_feature"}, {"embedding"})}


def check_io(role: str, session: Session, contract: str | None = None) -> None:
    """Refuse a model whose input/output names are not the bundle contract (a wrong file in the bundle).

    `contract` names the IO_CONTRACT entry when it differs from the role ("recipe_vectors" for a split MiniLM bundle).
    """
    inputs, outputs = IO_CONTRACT[contract or role]
    if set(session.input_names) != inputs or not outputs <= set(session.output_names):
        raise BundleError(f"{session.path}: the {role} model has inputs {session.input_names} and outputs {session.output_names}, "
                          f"expected inputs {sorted(inputs)} and outputs including {sorted(outputs)}; re-export the bundle")


class Session(Protocol):
    """One loaded model. `run` must be safe to call from several threads at once."""

    path: str
    input_names: list[str]
    output_names: list[str]
    providers: list[str]  # what actually runs (e.g. ["CPUExecutionProvider"]), never what was asked
    device: str  # "cpu" or "cuda:0"
    max_batch: int | None  # engine profile limit; None = any

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the model on `feeds` and return every output by name."""
        ...

    def close(self) -> None:
        """Release what the session holds on the device (idempotent)."""
        ...


def runtime_of(backend: str) -> str:
    """The bundle variants a backend reads: "tensorrt" engines, or the ONNX graphs ("onnxruntime") for every other backend."""
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r}; use auto, {', '.join(BACKENDS)}")
    return "tensorrt" if backend == "tensorrt" else "onnxruntime"


def require_variant(bundle: "Bundle", backend: str, precision: str) -> None:
    """The one rule for "can `backend` run the bundle at `precision`": the bundle holds that variant
    (BundleError, worded by Bundle.lacks) and the device suits it (BackendError)."""
    missing = bundle.lacks(runtime_of(backend), precision)
    if missing:
        raise BundleError(f"{backend}: {missing}")
    if backend == "onnxruntime-cuda" and precision == "int8":
        # int8 graphs are CPU-tuned (QDQ / dynamic quantisation): ORT's CUDA provider runs most of their nodes on the CPU.
        raise BackendError("onnxruntime-cuda: int8 graphs are quantised for the CPU and would run mostly on the CPU "
                           "under the CUDA provider; use precision='fp16' (or 'fp32') on the GPU, or backend='onnxruntime' for int8")


def open_session(bundle: "Bundle", backend: str, precision: str, role: str, threads: int = 0,
                 cuda: Any = None) -> Session:
    """One encoder of the bundle on one backend (raises BackendError / BundleError).

    `cuda` holds ONNX Runtime CUDA provider options (CudaOptions or a dict), used by onnxruntime-cuda.
    """
    require_variant(bundle, backend, precision)
    if backend in ("onnxruntime", "onnxruntime-cuda"):
        from seje_sdk.backends.onnxruntime import OrtSession

        path = bundle.model_path("onnxruntime", precision, role)
        if backend == "onnxruntime-cuda":
            return OrtSession(path, device="cuda", intra_op_threads=threads, cuda=cuda)
        # MiniLM's sentence graph runs in the recipe prepare thread, next to the recipe graph and the tagger: its
        # workers spinning between runs took the cores from them (one recipe at a time: 215-245 ms -> 32-85 ms per recipe)
        return OrtSession(path, device="cpu", intra_op_threads=threads, spin=role != "sentence")
    if backend == "openvino":  # the bundle's ONNX files, compiled by OpenVINO for the CPU
        from seje_sdk.backends.openvino import OvSession

        return OvSession(bundle.model_path("onnxruntime", precision, role), threads)
    if backend == "tensorrt":
        from seje_sdk.backends.tensorrt import TrtSession

        meta = {**bundle.manifest["variants"]["tensorrt"], **bundle.variant("tensorrt", precision)}
        return TrtSession(bundle.model_path("tensorrt", precision, role), meta.get("tensorrt_version"),
                          meta.get("compute_capability"), meta.get("max_batch"), built_cuda=meta.get("cuda"))
    raise AssertionError(f"backend {backend!r} is in BACKENDS but open_session has no branch for it")
