"""Which backend runs a Retriever: an explicit one, or under "auto" the fastest that can run here.

Opens the two encoders and the tagger (and the `bert` ranker for bundles that use it) on the
chosen backend; `Retriever.load` calls `select_backend` and keeps what it returns. Whether a
backend can run the bundle at a precision is `base.require_variant`, one rule with one message.

Example:
    >>> chosen = select_backend(Bundle.load("bundle/"), "auto", "fp32")     # doctest: +SKIP
    >>> chosen.backend, chosen.fallbacks                                     # doctest: +SKIP
    ('onnxruntime', ['tensorrt: bundle bundle: no tensorrt fp32 variant (skipped at export: no NVIDIA GPU at export time)', ...])
"""
from __future__ import annotations

import importlib.util
import logging
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from seje_sdk.backends.base import AUTO_ORDER, Session, check_io, open_session
from seje_sdk.errors import SejeError

if TYPE_CHECKING:
    from seje_sdk.bundle import Bundle

log = logging.getLogger("seje")
ENCODERS = ("image", "recipe")


@dataclass(frozen=True)
class Selection:
    """What runs: the backend, its sessions by role, the bert ranker (or None), and why faster backends were passed over."""

    backend: str
    sessions: dict[str, Session]
    bert: Any = None
    fallbacks: list[str] = field(default_factory=list)


def select_backend(bundle: "Bundle", backend: str, precision: str, threads: int = 0, cuda: Any = None) -> Selection:
    """Open `backend` (raising its error), or under "auto" try AUTO_ORDER and keep the first that opens.

    Under auto each failure is recorded in `fallbacks`, and warned about when a GPU runtime is
    installed but failed (quiet on CPU-only installs, where falling back is expected).
    """
    candidates = AUTO_ORDER if backend == "auto" else (backend,)
    fallbacks: list[str] = []
    for name in candidates:
        try:
            sessions = open_sessions(bundle, name, precision, threads, cuda)
        except SejeError as e:
            if backend != "auto" or name == candidates[-1]:
                raise
            reason = str(e) if str(e).startswith(f"{name}:") else f"{name}: {e}"
            fallbacks.append(reason)
            if _worth_warning(name, bundle):
                warnings.warn(f"seje: backend {name} cannot run, falling back ({reason})", RuntimeWarning, stacklevel=3)
                log.warning("seje: backend %s cannot run, falling back (%s)", name, reason)
            continue
        return Selection(name, sessions, open_ranker(bundle, name, precision, threads), fallbacks)
    raise AssertionError("unreachable: the last candidate raises")


def open_sessions(bundle: "Bundle", backend: str, precision: str, threads: int = 0, cuda: Any = None) -> dict[str, Session]:
    """The image and recipe encoders on `backend` at `precision` (+ MiniLM's sentence graph when the bundle has one),
    and the tagger, each checked against the I/O contract."""
    from seje_sdk.sentences import has_sentence_graph

    split = has_sentence_graph(bundle)
    roles = ENCODERS + (("sentence",) if split else ())
    sessions = {role: open_session(bundle, backend, precision, role, threads, cuda) for role in roles}
    # The tagger's argmax decides which words are key terms: keep it at fp32 so the term
    # feature equals training's exactly; it is tiny, so ORT CPU/CUDA is fine even under TensorRT.
    tagger_backend = "onnxruntime-cuda" if backend == "onnxruntime-cuda" else "onnxruntime"
    sessions["tagger"] = open_session(bundle, tagger_backend, "fp32", "tagger", threads, cuda)
    for role, session in sessions.items():
        check_io(role, session, "recipe_vectors" if split and role == "recipe" else None)
    return sessions


def open_ranker(bundle: "Bundle", backend: str, precision: str, threads: int = 0) -> Any:
    """The bundle's `bert` ranker (tokenizers + ranker.onnx, the int8 graph for precision int8), or None for tfidf/textrank."""
    if bundle.ranker != "bert":
        return None
    from seje_sdk.bert import BertRanker

    device = "cuda" if backend == "onnxruntime-cuda" else "cpu"
    return BertRanker.from_bundle(bundle, "int8" if precision == "int8" else "fp32", device, threads)


def _worth_warning(backend: str, bundle: "Bundle") -> bool:
    """True when a GPU runtime is installed (and the bundle has its files) but failed to open."""
    if backend == "tensorrt":
        return bool(bundle.precisions("tensorrt")) and importlib.util.find_spec("tensorrt") is not None
    if backend == "onnxruntime-cuda":
        from seje_sdk.backends.onnxruntime import available_providers

        return "CUDAExecutionProvider" in available_providers()
    return True
