"""Deterministic train/val/test split that never puts exact duplicates on both sides.

Recipes that share a photo's bytes or their whole text form one group (union-find over the
sha256 keys, read in sorted order from the importer's on-disk table, so memory is a few
integers per recipe). A group goes to one partition: the one its rows give when they give one
(the first row's when they disagree: those moves are reported), else a place in the cumulative
order of groups sorted by a hash of (seed, group's first text hash), cut at the split fractions.
"""
from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

PARTITIONS = ("train", "val", "test")


@dataclass
class SplitResult:
    """Partition per staged recipe (index = row number n) and what the duplicate rule did."""

    partition: np.ndarray  # uint8 index into PARTITIONS
    duplicate_groups: int = 0
    duplicate_recipes: int = 0  # recipes that share their text or a photo with another recipe
    moved: list[tuple[int, str, str]] = field(default_factory=list)  # (n, given, assigned)


def parse_fractions(text: str) -> tuple[float, float, float]:
    """'0.7,0.15,0.15' -> (0.7, 0.15, 0.15), normalised to sum 1; ValueError when malformed."""
    parts = [float(p) for p in text.split(",")]
    if len(parts) != 3 or min(parts) < 0 or sum(parts) <= 0 or parts[0] == 0:
        raise ValueError(f"--split {text!r}: expected three non-negative fractions train,val,test with train > 0")
    total = sum(parts)
    return parts[0] / total, parts[1] / total, parts[2] / total


def _find(parent: np.ndarray, i: int) -> int:
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:  # path compression
        parent[i], i = root, parent[i]
    return root


def duplicate_groups(n: int, keys: Iterator[tuple[str, int]]) -> np.ndarray:
    """Root row of each row's group, from (key, row) pairs sorted by key (rows sharing a key are joined)."""
    parent = np.arange(n, dtype=np.int64)
    last_key, last_row = None, -1
    for key, row in keys:
        if key == last_key:
            a, b = _find(parent, row), _find(parent, last_row)
            if a != b:
                parent[max(a, b)] = min(a, b)  # the lowest row number is the root: order-stable
        last_key, last_row = key, row
    return np.array([_find(parent, i) for i in range(n)], dtype=np.int64)


def assign_partitions(db: sqlite3.Connection, n: int, fractions: tuple[float, float, float], seed: int) -> SplitResult:
    """Split the staged rows (tables `recipes(n, text_hash, given)` and `keys(key, n)`)."""
    root = duplicate_groups(n, db.execute("SELECT key, n FROM keys ORDER BY key, n"))
    sizes = np.bincount(root, minlength=n)
    result = SplitResult(np.full(n, 255, dtype=np.uint8))
    result.duplicate_groups = int((sizes > 1).sum())
    result.duplicate_recipes = int((sizes[root] > 1).sum())
    group_part = np.full(n, 255, dtype=np.uint8)  # indexed by root
    sort_key = np.zeros(n, dtype=np.uint64)
    for row, text_hash, given in db.execute("SELECT n, text_hash, given FROM recipes ORDER BY n"):
        r = root[row]
        if given is not None and group_part[r] == 255:
            group_part[r] = PARTITIONS.index(given)
        if r == row:
            digest = hashlib.blake2b(f"{seed}:{text_hash}".encode(), digest_size=8).digest()
            sort_key[row] = int.from_bytes(digest, "little")
    _fill_free_groups(group_part, sort_key, sizes, root, fractions)
    result.partition = group_part[root]
    for row, given in db.execute("SELECT n, given FROM recipes WHERE given IS NOT NULL ORDER BY n"):
        if PARTITIONS[result.partition[row]] != given:
            result.moved.append((row, given, PARTITIONS[result.partition[row]]))
    return result


def _fill_free_groups(group_part: np.ndarray, sort_key: np.ndarray, sizes: np.ndarray, root: np.ndarray,
                      fractions: tuple[float, float, float]) -> None:
    """Groups without a given partition, in hash order, cut where the cumulative recipe count crosses the fractions."""
    free = np.flatnonzero((np.arange(len(root)) == root) & (group_part == 255))
    if not len(free):
        return
    order = free[np.argsort(sort_key[free], kind="stable")]
    cum = np.cumsum(sizes[order]) - sizes[order] / 2  # a group sits at its middle recipe
    share = cum / sizes[order].sum()
    bounds = np.cumsum(fractions)[:2]
    group_part[order] = np.searchsorted(bounds, share, side="right").astype(np.uint8)
