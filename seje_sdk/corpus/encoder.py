"""One shard of items -> embeddings with the SDK's Retriever; shared by every distributor.

Both distributors call `encode_shard` on whole shards, so a shard's vectors come from the same
batches whichever engine ran it, and a Ray run equals a sequential one exactly.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from seje_sdk.corpus.reader import Item


@dataclass(frozen=True)
class EncoderSpec:
    """What each worker loads: the bundle and how to run it (picklable, sent to Ray actors)."""

    bundle: str
    modality: str
    backend: str = "auto"
    precision: str = "fp32"
    threads: int = 0  # onnxruntime intra-op threads per worker (0: its default, all cores)
    batch_size: int = 64

    def load(self):
        """A Retriever for this spec (one per worker: the bundle is loaded once and reused)."""
        from seje_sdk.retriever import Retriever

        return Retriever.load(self.bundle, backend=self.backend, precision=self.precision, threads=self.threads,
                              workers=self.threads or None)


@dataclass
class ShardResult:
    """A shard's embedded items (rows of `vectors`, in source order) and its skipped items."""

    number: int
    ids: list[str]
    positions: list[int]
    labels: list[str]
    vectors: np.ndarray
    skipped: list[dict[str, Any]] = field(default_factory=list)  # {"id", "position", "reason"}

    @property
    def size(self) -> int:
        return len(self.ids) + len(self.skipped)


def encode_shard(retriever: Any, spec: EncoderSpec, number: int, items: Sequence[Item]) -> ShardResult:
    """Embed a shard's good items (bad ones, and ones the encoder refuses, go to `skipped` with the reason)."""
    skipped = [{"id": it.id, "position": it.position, "reason": it.bad} for it in items if it.bad]
    good = [it for it in items if not it.bad]
    dim = retriever.bundle.embedding_dim
    if not good:
        return ShardResult(number, [], [], [], np.zeros((0, dim), np.float32), _by_position(skipped))
    if spec.modality == "recipe":
        inputs = [json.loads(it.payload) for it in good]
        res = retriever.embed_recipes(inputs, spec.batch_size, on_error="skip")
    else:
        res = retriever.embed_images([it.payload for it in good], spec.batch_size, on_error="skip")
    for pos, reason in res.skipped:
        skipped.append({"id": good[pos].id, "position": good[pos].position, "reason": reason})
    kept = [good[p] for p in res.positions]
    return ShardResult(number, [it.id for it in kept], [it.position for it in kept], [it.label for it in kept],
                       np.asarray(res.vectors, np.float32).reshape(len(kept), dim), _by_position(skipped))


def _by_position(skipped: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(skipped, key=lambda s: s["position"])
