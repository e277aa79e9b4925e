"""`seje-bench retrieval`: MedR and R@1/5/10 of PyTorch and every exported variant on the same test bags,
plus per-item cosine parity with PyTorch, so precision loss is visible side by side.

The protocol (bags, ranks, ties) is trainer.evaluate's, imported, never re-implemented.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from benchmarks.cases import GPU_BACKENDS
from benchmarks.environment import gpu_unavailable_reason
from benchmarks.inputs import read_recipes
from seje_sdk.backends.base import runtime_of
from seje_sdk.bundle import Bundle
from seje_sdk.errors import InputError


@dataclass(frozen=True)
class RetrievalConfig:
    """Test-set size and bag protocol (Recipe1M: bags of 1k pairs, 10 bags)."""

    max_test: int = 1000
    bag_size: int = 1000
    n_bags: int = 10
    seed: int = 0
    batch_size: int = 32


def torch_embeddings(run_dir: str | os.PathLike, recipes: Sequence[dict], images: Sequence[Path], spec: Any,
                     batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(image, recipe) embeddings of the test pairs with the trained PyTorch model."""
    import torch

    from trainer.evaluate import embed_images_torch, embed_recipes_torch
    from trainer.features.store import FeatureStore
    from trainer.model import load_run

    model, config = load_run(run_dir)
    store = FeatureStore.load(config["features_dir"])
    with torch.inference_mode():
        img = embed_images_torch(model, list(images), spec, batch_size=batch_size)
        rec = embed_recipes_torch(model, list(recipes), store, batch_size=batch_size, features_dir=config["features_dir"])
    return img, rec


def sdk_embeddings(bundle: Bundle, backend: str, precision: str, recipes: Sequence[dict], images: Sequence[Path],
                   batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(image, recipe) embeddings through the SDK with one backend/precision."""
    from seje_sdk import Retriever

    r = Retriever.load(bundle, backend=backend, precision=precision, verify=False)
    try:
        return r.embed_images(list(images), batch_size=batch_size), r.embed_recipes(list(recipes), batch_size=batch_size)
    finally:
        r.close()


def _cosine(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    cos = (a * b).sum(1)
    return {"mean": float(cos.mean()), "min": float(cos.min())}


def variant_list(bundle: Bundle) -> list[tuple[str, str, str | None]]:
    """(backend, precision, skipped reason) for every variant the report must show."""
    out: list[tuple[str, str, str | None]] = []
    for precision in ("fp32", "int8"):
        out.append(("onnxruntime-cpu", precision, bundle.lacks("onnxruntime", precision)))
    no_gpu = gpu_unavailable_reason()
    for backend, precision in GPU_BACKENDS:
        out.append((backend, precision, no_gpu or bundle.lacks(runtime_of(backend), precision)))
    return out


def run_retrieval(bundle_dir: str | os.PathLike, data_dir: str | os.PathLike, run_dir: str | os.PathLike | None = None,
                  cfg: RetrievalConfig = RetrievalConfig(), progress: bool = True) -> tuple[dict[str, Any], np.ndarray]:
    """Bag metrics per model variant (+ cosine vs PyTorch); also returns fp32 SDK embeddings (anchors for search scaling)."""
    from seje_sdk.progress import progress_bar

    from trainer.evaluate import bag_metrics

    bundle = Bundle.load(bundle_dir)
    recipes, images = read_recipes(data_dir, "test", limit=cfg.max_test)
    if len(recipes) < 2:
        raise InputError(f"{data_dir}: the test split has {len(recipes)} recipes with images; need at least 2")
    rows, embeddings = [], {}
    todo: list[tuple[str, str, str | None]] = [("pytorch", "fp32", None if run_dir else "no --run RUN_DIR given")]
    todo += variant_list(bundle)
    for backend, precision, why in progress_bar(todo, desc="retrieval variants", disable=not progress):
        row: dict[str, Any] = {"backend": backend, "precision": precision}
        if why is not None:
            rows.append({**row, "status": "skipped", "reason": why})
            continue
        try:
            if backend == "pytorch":
                img, rec = torch_embeddings(run_dir, recipes, images, bundle.image_spec, cfg.batch_size)
            else:
                sdk_backend = "onnxruntime" if backend == "onnxruntime-cpu" else backend
                img, rec = sdk_embeddings(bundle, sdk_backend, precision, recipes, images, cfg.batch_size)
        except Exception as e:  # a variant that fails to run is a result to show, not a crash
            rows.append({**row, "status": "failed", "reason": f"{type(e).__name__}: {e}"})
            continue
        embeddings[(backend, precision)] = (img, rec)
        bags = bag_metrics(img, rec, cfg.bag_size, cfg.n_bags, cfg.seed)
        rows.append({**row, "status": "ok", "bags": bags})
    ref = embeddings.get(("pytorch", "fp32"))
    for row in rows:
        if ref is not None and row["status"] == "ok" and row["backend"] != "pytorch":
            img, rec = embeddings[(row["backend"], row["precision"])]
            row["cosine_vs_pytorch"] = {"image": _cosine(img, ref[0]), "recipe": _cosine(rec, ref[1])}
    anchor = embeddings.get(("onnxruntime-cpu", "fp32"), ref)
    anchors = np.concatenate(anchor) if anchor is not None else np.zeros((0, bundle.embedding_dim), np.float32)
    report = {"n_test": len(recipes), "data_dir": str(data_dir), "run_dir": str(run_dir) if run_dir else None,
              "bundle": {"path": str(bundle.path), "fingerprint": bundle.fingerprint}, "rows": rows}
    return report, anchors
