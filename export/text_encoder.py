"""The typed-text query encoder in the bundle: text_encoder.onnx, checked against PyTorch.

A run trained with a text encoder (RUN_DIR/text_encoder.pt, trainer/query_encoder.py) gets
`text_encoder.onnx` (token_ids (B,L) int64, 0 = padding -> embedding (B,D)) and a manifest entry
`text_encoder`; a run without one gets neither, and the SDK embeds typed text the old way.
The graph is small (a Word2vec lookup, pooling and a two-layer MLP), so only fp32 is written.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from export.onnx import GraphSpec, check_io, check_onnx, export_graph, ort_session
from export.parity import ParityError, Thresholds, compare
from seje_sdk.text_query import MAX_QUERY_TOKENS, encode_texts

TEXT = GraphSpec("text", "text_encoder", ("token_ids",), ("embedding",),
                 {"token_ids": {0: "batch", 1: "tokens"}, "embedding": {0: "batch"}})


def export_text_encoder(run_dir: Path, store: Any, texts: Sequence[str], out: Path, opset: int,
                        thresholds: Thresholds | None) -> dict[str, Any] | None:
    """Write text_encoder.onnx for RUN_DIR's text encoder; return the manifest entry (None: the run has none).

    `texts`: held-out texts (titles, instruction sentences) for the parity check when `thresholds`;
    ParityError when the ONNX graph's cosine to PyTorch falls below the fp32 threshold.
    """
    import torch

    from trainer.query_encoder import load_text_encoder

    encoder = load_text_encoder(run_dir, store.word_vectors)
    if encoder is None:
        return None
    ids = encode_texts(list(texts) or ["salt"], store.vocab)
    ids = ids[ids.any(axis=1)] if ids.any() else ids  # a text with no known word is refused by the SDK
    path = export_graph(encoder, [ids[:2]], TEXT, out / TEXT.filename(), opset)
    check_io(path, TEXT)
    entry: dict[str, Any] = {"model": TEXT.filename(), "inputs": list(TEXT.inputs), "max_tokens": MAX_QUERY_TOKENS}
    if thresholds is None:
        return entry
    check_onnx(path)
    (got,) = ort_session(path).run(None, {"token_ids": ids})
    with torch.inference_mode():
        ref = encoder(torch.from_numpy(ids)).numpy()
    stats = compare(ref, np.asarray(got))
    if stats["cos_min"] < thresholds.fp32:
        raise ParityError(f"{TEXT.filename()}: cosine to PyTorch {stats['cos_min']:.6f} < {thresholds.fp32} "
                          f"on {len(ref)} held-out texts (max abs diff {stats['max_abs']:.2e})")
    entry["parity"] = {"n_texts": len(ref), **stats}
    return entry
