"""Build a Retriever index folder from embed-corpus shards, one shard in memory at a time.

exact / exact-fp16: the vectors are copied shard by shard into a memory-mapped vectors.npy
(numpy.lib.format.open_memmap) in the folder format ExactIndex.save writes, with its
write_manifest, so Retriever.load_index reads it. hnsw: shards are added one by one. ivf and ivfpq:
a seeded random sample over all shards is added first (FaissIndex trains on its first add), then the
rest. Ids come from the metadata shards; catalog.jsonl gets each id's title (recipes) or path
(images) for `seje search` and the service.

Example:
    >>> report = build_from_shards("bundle/", ["corpus/recipes"], "index/", max_memory=parse_size("4G"))   # doctest: +SKIP
"""
from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from seje_sdk.catalog import catalog_entry, write_catalog
from seje_sdk.corpus.index_plan import IndexPlan, plan_index
from seje_sdk.corpus.shards import ShardSet, label_column
from seje_sdk.errors import IndexMismatchError, InputError
from seje_sdk.index import write_manifest
from seje_sdk.indexes import new_index, write_indexes_manifest
from seje_sdk.io import atomic_dir, sha256_file, write_json

SAMPLE_PER_LIST = 50  # IVF-PQ training sample: 50 vectors per coarse list and 50 per PQ centroid (FAISS wants >= 39)
ADD_ROWS = 65536  # rows per add() into a FAISS index


@dataclass(frozen=True)
class _IndexFacts:
    """What write_manifest reads from an index, for a folder written without an index object."""

    kind: str
    fingerprint: str
    dim: int
    dtype: str
    modality: str
    count: int
    params: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return self.count


@dataclass(frozen=True)
class BuildReport:
    out: str
    plan: IndexPlan
    counts: dict[str, int]
    seconds: float
    peak_rss_bytes: int


def build_from_shards(bundle: str | os.PathLike, shard_dirs: Sequence[str | os.PathLike], out: str | os.PathLike,
                      kind: str | None = None, max_memory: int | None = None, params: dict[str, Any] | None = None,
                      seed: int = 0) -> BuildReport:
    """Index every complete shard folder (one per modality) of `bundle` into `out`, atomically."""
    from seje_sdk.bundle import Bundle

    fingerprint = Bundle.load(bundle).fingerprint
    sets = [_open(d, fingerprint) for d in shard_dirs]
    modalities = [s.modality for s in sets]
    if len(set(modalities)) != len(modalities):
        raise InputError(f"--from-shards: give one shard folder per modality, got {modalities}")
    counts = {s.modality: s.count() for s in sets}
    if any(c == 0 for c in counts.values()):
        raise InputError(f"--from-shards: no embedded items in {[str(s.root) for s in sets if counts[s.modality] == 0]}")
    plan = plan_index(max(counts.values()), sets[0].dim, kind, max_memory)
    start = time.perf_counter()
    with atomic_dir(out) as tmp:
        for s in sets:
            if plan.kind in ("exact", "exact-fp16"):
                _write_exact(s, tmp / s.modality, plan.kind, counts[s.modality])
            else:
                _write_faiss(s, tmp / s.modality, plan.kind, counts[s.modality], params or {}, seed)
        write_indexes_manifest(tmp, fingerprint, counts, plan.kind)
        write_catalog(tmp, (row for s in sets for row in _catalog_rows(s)))
    return BuildReport(str(out), plan, counts, time.perf_counter() - start, peak_rss_bytes())


def peak_rss_bytes() -> int:
    """This process's peak resident set: VmHWM (Linux; unlike ru_maxrss it is not inherited from a parent across exec)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux KiB; an upper bound elsewhere


def _open(path: str | os.PathLike, fingerprint: str) -> ShardSet:
    s = ShardSet.open(path)
    s.require_complete()
    if s.fingerprint != fingerprint:
        raise IndexMismatchError(f"{path}: shards were embedded with bundle {s.fingerprint[:12]}..., this is bundle "
                                 f"{fingerprint[:12]}...; embed the corpus again with this bundle (seje embed-corpus)")
    return s


def _write_exact(s: ShardSet, folder: Path, kind: str, n: int) -> None:
    """vectors.npy filled shard by shard through a memory map, then ids.json and the index manifest."""
    dtype = "float16" if kind == "exact-fp16" else "float32"
    folder.mkdir(parents=True)
    path = folder / "vectors.npy"
    np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(n, s.dim)).flush()  # header + sparse file
    ids: list[str] = []
    row = 0
    for part in s.parts():
        vectors = part.vectors()
        # A fresh map per shard: once unmapped, the written pages leave this process's resident set,
        # so memory stays at about one shard however large the index is.
        matrix = np.lib.format.open_memmap(path, mode="r+")
        matrix[row : row + len(vectors)] = vectors  # cast to the index dtype on copy
        matrix.flush()
        del matrix
        ids += part.metadata()["id"]
        row += len(vectors)
    write_json(folder / "ids.json", ids)
    write_manifest(folder, _IndexFacts("exact", s.fingerprint, s.dim, dtype, s.modality, n), {"vectors.npy": sha256_file(folder / "vectors.npy")})


def _write_faiss(s: ShardSet, folder: Path, kind: str, n: int, params: dict[str, Any], seed: int) -> None:
    """HNSW: shards added in order. IVF, IVF-PQ: a random sample first (they train on it), then the remaining rows."""
    index = new_index(kind, s.dim, s.fingerprint, s.modality, **params)
    sample = np.zeros(n, bool)
    if kind in ("ivf", "ivfpq"):
        size = min(n, index.params["train_size"] if kind == "ivf" else SAMPLE_PER_LIST * max(index.params["nlist"], 2 ** index.params["nbits"]))
        sample[np.random.default_rng(seed).choice(n, size, replace=False)] = True
        vectors, ids = zip(*_rows(s, sample)) if size else ((), ())
        index.add(np.concatenate(vectors), [i for chunk in ids for i in chunk])
    for vectors, ids in _rows(s, ~sample):
        for start in range(0, len(ids), ADD_ROWS):
            index.add(vectors[start : start + ADD_ROWS], ids[start : start + ADD_ROWS])
    index.save(folder)


def _rows(s: ShardSet, mask: np.ndarray) -> Iterator[tuple[np.ndarray, list[str]]]:
    """(float32 vectors, ids) of the rows selected by `mask` (over all shards in order), one shard at a time."""
    row = 0
    for part in s.parts():
        vectors = part.vectors()
        keep = mask[row : row + len(vectors)]
        row += len(vectors)
        if keep.any():
            ids = part.metadata()["id"]
            yield np.asarray(vectors[keep], np.float32), [i for i, k in zip(ids, keep) if k]


def _catalog_rows(s: ShardSet) -> Iterator[dict[str, Any]]:
    column = label_column(s.modality)
    for part in s.parts():
        meta = part.metadata()
        for item_id, label in zip(meta["id"], meta[column]):
            yield catalog_entry(item_id, s.modality, **{column: label or None})
