"""The `exact-int8` index: an int8 first pass over every vector, then an exact float32 re-rank of a shortlist.

Scoring all n vectors is the cost of exact search. Here it runs on 8-bit codes through ONNX
Runtime's integer matmul (MatMulInteger, u8 x s8), which on AVX2 CPUs does about 4x the
multiply-adds per second of a float32 GEMM and reads a quarter of the bytes. The best
`shortlist` rows per query (default 64, at least 4k) are then re-scored exactly with the float32
vectors, so the returned scores are exact dot products and recall@10 stays >= 0.99 on
embedding-like data (measured by `seje-bench retrieval`; the test checks it on clustered data).

Codes: each vector is scaled by 127 / max|x| (its own scale, so no training pass is needed and
vectors can be streamed in) and stored as uint8 with zero point 128. Queries use 7 bits
(|q| <= 63): u8 x s8 products are summed in pairs into int16 by AVX2's vpmaddubsw, and
255 * 63 * 2 < 32767 keeps those sums from saturating on CPUs without VNNI.
"""
from __future__ import annotations

import base64
import os
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from seje_sdk.errors import IndexMismatchError, InputError
from seje_sdk.index import ExactIndex, SearchResult, check_vectors, check_ids, check_queries, take_ids
from seje_sdk.io import save_npy, sha256_file
from seje_sdk.topk import RunningTopK, block_ranges

CODE_BLOCK_ROWS = 32768  # rows per integer matmul: 32 MiB of codes, a (32768, 256) int32 score block of 32 MiB
QUERY_LEVELS = 63  # 7-bit queries: see the module docstring (no int16 saturation on AVX2)
# MatMulInteger(codes uint8 [rows, dim], queries int8 [dim, n_queries], zero point 128) -> int32 [rows, n_queries].
# Built once with onnx.helper (tests/test_sdk_index.py rebuilds it and checks these bytes), so the SDK needs no `onnx`.
_SCORES_ONNX = base64.b64decode(
    "CAcSBHNlamU60AEKOQoFY29kZXMKB3F1ZXJpZXMKEGNvZGVzX3plcm9fcG9pbnQSBnNjb3JlcyINTWF0TXVsSW50ZWdlchILaW50OF9zY29yZXMq"
    "GBACKgKAAUIQY29kZXNfemVyb19wb2ludFoeCgVjb2RlcxIVChMIAhIPCgYSBHJvd3MKBRIDZGltWiUKB3F1ZXJpZXMSGgoYCAMSFAoFEgNkaW0K"
    "CxIJbl9xdWVyaWVzYiUKBnNjb3JlcxIbChkIBhIVCgYSBHJvd3MKCxIJbl9xdWVyaWVzQgQKABAK"
)


def encode_int8(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes uint8 (n, d) with zero point 128, per-row scales float32 (n,)): x ~ (codes - 128) * scale."""
    vectors = np.asarray(vectors, dtype=np.float32)
    peak = np.abs(vectors).max(axis=1)
    peak[peak == 0] = 1.0
    codes = np.rint(vectors * (127.0 / peak)[:, None]).astype(np.int16) + 128
    return codes.astype(np.uint8), (peak / 127.0).astype(np.float32)


def _query_codes(queries: np.ndarray) -> np.ndarray:
    """Queries as int8 in [-63, 63], transposed to (dim, n_queries) for MatMulInteger (a per-query scale
    does not change that query's ranking, so it is dropped)."""
    peak = np.abs(queries).max(axis=1, keepdims=True)
    peak[peak == 0] = 1.0
    return np.ascontiguousarray(np.rint(queries * (QUERY_LEVELS / peak)).astype(np.int8).T)


class Int8ScoreSession:
    """An ONNX Runtime session holding the MatMulInteger graph (thread-safe, like every ORT session)."""

    def __init__(self, threads: int = 0):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # 0 = all cores, as the encoders' sessions
        self._session = ort.InferenceSession(_SCORES_ONNX, sess_options=options, providers=["CPUExecutionProvider"])

    def scores(self, codes: np.ndarray, query_codes: np.ndarray) -> np.ndarray:
        """int32 (rows, n_queries) = (codes - 128) @ query_codes."""
        return self._session.run(None, {"codes": np.ascontiguousarray(codes), "queries": query_codes})[0]


class Int8ExactIndex(ExactIndex):
    """float32 vectors (vectors.npy, as ExactIndex) plus int8 codes (codes.npy, code_scales.npy) for the first pass."""

    kind = "exact-int8"

    def __init__(self, dim: int, fingerprint: str, modality: str = "recipe", shortlist: int = 64, threads: int = 0):
        super().__init__(dim, fingerprint, "float32", modality)
        if not isinstance(shortlist, int) or shortlist < 1:
            raise InputError(f"exact-int8: shortlist must be a positive int, got {shortlist!r}")
        self.params = {"shortlist": shortlist}
        self._threads = threads
        self._code_chunks: list[tuple[np.ndarray, np.ndarray]] = []
        self._codes = np.zeros((0, self.dim), dtype=np.uint8)
        self._scales = np.zeros(0, dtype=np.float32)
        self._session: Int8ScoreSession | None = None
        self._session_lock = threading.Lock()

    def add(self, vectors: np.ndarray, ids: Sequence[Any]) -> None:
        """Append (n, dim) vectors with their ids (float32 kept for the re-rank, int8 codes for the first pass)."""
        vectors = check_vectors(vectors, self.dim)
        with self._lock:
            ids = check_ids(ids, len(vectors), self._id_set)
            self._chunks.append(vectors)
            self._code_chunks.append(encode_int8(vectors))
            self._append_ids(ids)

    def _state(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[Any]]:
        with self._lock:
            matrix, ids = self._snapshot()
            if self._code_chunks:
                self._codes = np.concatenate([np.asarray(self._codes), *(c for c, _ in self._code_chunks)])
                self._scales = np.concatenate([np.asarray(self._scales), *(s for _, s in self._code_chunks)])
                self._code_chunks = []
            return matrix, self._codes, self._scales, ids

    def _scorer(self) -> Int8ScoreSession:
        with self._session_lock:
            if self._session is None:
                self._session = Int8ScoreSession(self._threads)
            return self._session

    def search(self, queries: np.ndarray, k: int = 10, fingerprint: str | None = None) -> SearchResult:
        """Top-k ids and exact float32 scores per query; the candidates come from the int8 first pass."""
        matrix, codes, scales, ids = self._state()
        queries = check_queries(queries, self.dim, fingerprint, self.fingerprint, k, len(ids))
        scores, rows = search_int8(queries, matrix, codes, scales, k, self.params["shortlist"], self._scorer())
        return SearchResult(take_ids(ids, rows), scores, positions=list(range(len(queries))))

    def _extra_files(self, folder: Path) -> dict[str, str]:
        _, codes, scales, _ = self._state()
        save_npy(folder / "codes.npy", np.asarray(codes))
        save_npy(folder / "code_scales.npy", np.asarray(scales))
        return {name: sha256_file(folder / name) for name in ("codes.npy", "code_scales.npy")}

    @classmethod
    def load(cls, path: str | os.PathLike, manifest: dict, mmap: bool = True, threads: int = 0) -> "Int8ExactIndex":
        """Read a saved index; a folder without codes.npy (written from shards, say) gets its codes computed here."""
        path = Path(path)
        index = cls(manifest["embedding_dim"], manifest["fingerprint"], manifest.get("modality", "recipe"),
                    threads=threads, **{k: v for k, v in manifest.get("params", {}).items() if k == "shortlist"})
        index._load_vectors(path, mmap)
        if (path / "codes.npy").is_file() and (path / "code_scales.npy").is_file():
            index._codes = np.load(path / "codes.npy", mmap_mode="r" if mmap else None)
            index._scales = np.load(path / "code_scales.npy")
        else:
            parts = [encode_int8(index._base[s : s + CODE_BLOCK_ROWS]) for s in range(0, len(index._base), CODE_BLOCK_ROWS)]
            index._codes = np.concatenate([c for c, _ in parts]) if parts else index._codes
            index._scales = np.concatenate([s for _, s in parts]) if parts else index._scales
        if index._codes.shape != index._base.shape:
            raise IndexMismatchError(f"index {path}: codes.npy is {index._codes.shape}, vectors.npy is {index._base.shape}")
        return index


def search_int8(queries: np.ndarray, matrix: np.ndarray, codes: np.ndarray, scales: np.ndarray, k: int, shortlist: int,
                scorer: Int8ScoreSession) -> tuple[np.ndarray, np.ndarray]:
    """(scores, rows), best first: int8 scores pick max(shortlist, 4k) rows per query, float32 dot products rank them."""
    size = max(shortlist, 4 * k)
    if size >= len(matrix):  # the shortlist would be everything: score it all exactly
        top = RunningTopK(len(queries), k)
        top.push(queries @ np.asarray(matrix, dtype=np.float32).T, 0)
        return top.result()
    query_codes = _query_codes(queries)
    first = RunningTopK(len(queries), size)
    for start, stop in block_ranges(len(codes), CODE_BLOCK_ROWS, first_rows=max(4096, 8 * size)):
        ints = scorer.scores(codes[start:stop], query_codes)
        approx = np.multiply(ints, scales[start:stop, None], dtype=np.float32)
        first.push_transposed(approx, start)
    candidates = np.sort(first.rows, axis=1)  # so ties among exact scores break by row, as in ExactIndex
    # Read each shortlisted row once (sorted, so a memory-mapped file is read in order).
    unique, inverse = np.unique(candidates, return_inverse=True)
    vectors = np.asarray(matrix[unique], dtype=np.float32)[inverse.reshape(candidates.shape)]
    exact = np.einsum("qrd,qd->qr", vectors, queries)
    final = RunningTopK(len(queries), k)
    final.push(exact, 0)
    scores, pos = final.result()
    return scores, np.take_along_axis(candidates, pos, 1)
