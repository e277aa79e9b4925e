"""Exact top-k by inner product over row blocks, with a running top-k that skips most scores.

Used by the exact indexes (seje_sdk/index.py, seje_sdk/index_int8.py); numpy only.

    >>> scores, rows = topk_blockwise(np.eye(3, dtype=np.float32)[:1], np.eye(3, dtype=np.float32), k=2)
    >>> rows.tolist()
    [[0, 1]]
"""
from __future__ import annotations

import numpy as np

BLOCK_ROWS = 65536  # rows per matmul block: 256 MiB of fp32 at d=1024, a (256, 65536) score block of 64 MiB


class RunningTopK:
    """The best k (score, row) per query over score blocks seen one after another.

    After the first block only scores above each query's current k-th best survive a cheap
    comparison, so the expensive selection runs on a handful of candidates instead of the whole
    block: this, not the matmul, is what made plain numpy slow (argpartition over Q x n scores).
    """

    def __init__(self, n_queries: int, k: int):
        self.k = k
        self.scores = np.full((n_queries, 0), -np.inf, dtype=np.float32)
        self.rows = np.zeros((n_queries, 0), dtype=np.int64)

    def push(self, scores: np.ndarray, first_row: int) -> None:
        """Offer a (Q, B) block of scores for rows first_row .. first_row + B - 1."""
        if self.scores.shape[1] < self.k:  # not yet k candidates: select within the block directly
            self._select(scores, first_row)
            return
        # Strictly greater: an equal score from a later row never displaces an earlier one.
        qi, ri = np.nonzero(scores > self.scores.min(axis=1)[:, None])
        self._offer(qi, ri, scores[qi, ri], first_row)

    def push_transposed(self, scores: np.ndarray, first_row: int) -> None:
        """As push, for a (B, Q) block (rows first), without copying it to (Q, B)."""
        if self.scores.shape[1] < self.k:
            self._select(scores.T, first_row)
            return
        ri, qi = np.nonzero(scores > self.scores.min(axis=1)[None, :])
        order = np.argsort(qi, kind="stable")  # group by query, rows ascending within each
        ri, qi = ri[order], qi[order]
        self._offer(qi, ri, scores[ri, qi], first_row)

    def _select(self, scores: np.ndarray, first_row: int) -> None:
        kk = min(self.k, scores.shape[1])
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
        self._merge(np.take_along_axis(scores, part, 1), part + first_row)

    def _offer(self, qi: np.ndarray, ri: np.ndarray, values: np.ndarray, first_row: int) -> None:
        """Merge candidates given as (query, row-in-block, score), grouped by query."""
        if len(qi) == 0:
            return
        n_q = len(self.scores)
        counts = np.bincount(qi, minlength=n_q)
        pos = np.arange(len(qi)) - np.repeat(np.cumsum(counts) - counts, counts)  # rank within its query
        cand_s = np.full((n_q, int(counts.max())), -np.inf, dtype=np.float32)
        cand_r = np.full(cand_s.shape, -1, dtype=np.int64)
        cand_s[qi, pos] = values
        cand_r[qi, pos] = ri + first_row
        self._merge(cand_s, cand_r)

    def _merge(self, cand_s: np.ndarray, cand_r: np.ndarray) -> None:
        all_s = np.concatenate([self.scores, cand_s], axis=1)
        all_r = np.concatenate([self.rows, cand_r], axis=1)
        kk = min(self.k, all_s.shape[1])
        keep = np.argpartition(-all_s, kk - 1, axis=1)[:, :kk]
        self.scores, self.rows = np.take_along_axis(all_s, keep, 1), np.take_along_axis(all_r, keep, 1)

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows), best first; ties by row so results are deterministic."""
        order = np.lexsort((self.rows, -self.scores), axis=1)
        return np.take_along_axis(self.scores, order, 1), np.take_along_axis(self.rows, order, 1)


def topk_blockwise(queries: np.ndarray, matrix: np.ndarray, k: int, block_rows: int = BLOCK_ROWS) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by inner product, reading `matrix` in row blocks; returns (scores, rows), best first."""
    top = RunningTopK(len(queries), k)
    for start, stop in block_ranges(len(matrix), block_rows):
        top.push(queries @ np.asarray(matrix[start:stop], dtype=np.float32).T, start)
    return top.result()


def block_ranges(n: int, block_rows: int, first_rows: int = 4096) -> list[tuple[int, int]]:
    """(start, stop) row ranges: a small first block (its full selection is the one costly step), then block_rows each."""
    first = min(n, first_rows, block_rows)
    return [(0, first)] + [(s, min(n, s + block_rows)) for s in range(first, n, block_rows)]
