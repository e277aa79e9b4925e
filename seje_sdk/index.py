"""Exact embedding index: a float32/float16 matrix + ids, saved as .npy and memory-mapped on load.

Search reads the matrix in row blocks (so a memory-mapped million-vector index is searched
without loading it into RAM), one BLAS matmul per block, and keeps a running top-k per query:
after the first block only scores above the current k-th best are looked at, which is what makes
it faster than a plain numpy matmul + argpartition. `exact-int8` (seje_sdk/index_int8.py) adds an
int8 first pass with an exact float32 re-rank; approximate search (FAISS HNSW / IVF-PQ) lives in
seje_sdk/index_faiss.py behind the same interface. An index remembers the bundle fingerprint that
made its vectors and refuses queries from another bundle (IndexMismatchError).

The index kinds and their loading live in seje_sdk/indexes.py (`new_index`, `load_index`); this
module holds the exact index and the helpers every kind shares.

On-disk format (one folder per index; everything else in seje reads it through `indexes.load_index`):
- manifest.json (`write_manifest`): schema_version "seje-index/1", seje_version, kind
  ("exact", "exact-fp16", "exact-int8", "hnsw", "ivf", "ivfpq"), fingerprint (the bundle's),
  embedding_dim, dtype ("float32" or "float16": the dtype of vectors.npy), modality, count,
  params (kind-specific), files ({relative path: sha256}; ids.json is always listed).
- ids.json: a JSON list of the ids (str or int) in row order.
- exact kinds: vectors.npy, an (count, embedding_dim) .npy of `dtype`, row i = ids[i]
  (`new_index("exact-fp16")` is stored as kind "exact" with dtype float16).
- exact-int8 also: codes.npy (uint8, zero point 128) and code_scales.npy (float32 per row);
  when they are missing (a folder written straight from shards) they are computed on load.
- faiss kinds: index.faiss (faiss.serialize_index) instead of vectors.npy.
A folder may be written directly (from shards, streaming) as long as it follows this layout.

Example:
    >>> idx = ExactIndex(dim=4, fingerprint="abc")
    >>> idx.add(np.eye(4, dtype=np.float32), ids=["a", "b", "c", "d"])
    >>> idx.search(np.eye(4, dtype=np.float32)[:1], k=2, fingerprint="abc")[0][0]
    ('a', 1.0)
"""
from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from seje_sdk.errors import IndexMismatchError, InputError, tell_apart
from seje_sdk.io import atomic_dir, load_manifest, save_npy, sha256_file, write_json
from seje_sdk.topk import RunningTopK, block_ranges, topk_blockwise  # noqa: F401 (re-exported)
from seje_sdk.version import __version__

INDEX_SCHEMA = "seje-index/1"


@dataclass
class SearchResult:
    """Top-k hits: `ids` (Q, k) and `scores` (Q, k) arrays; iterating gives per-query [(id, score), ...].

    `skipped` lists the query positions dropped under on_error="skip" (they have no row).
    `positions` maps each row back to its position in the caller's query list.
    `unknown_words` (text queries) lists per query the words the bundle's vocabulary lacks, and
    `substitutes` the unseen words read as a vocabulary word spelt like them.

    >>> res = SearchResult(np.array([["a", "b"]], dtype=object), np.array([[0.9, 0.5]], np.float32), [0])
    >>> res[0], res.ids.shape
    ([('a', 0.8999999761581421), ('b', 0.5)], (1, 2))
    """

    ids: np.ndarray
    scores: np.ndarray
    positions: list[int] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    unknown_words: list[list[str]] = field(default_factory=list)  # text queries: words outside the vocabulary
    substitutes: list[dict[str, str]] = field(default_factory=list)  # text queries: unseen word -> the word read for it

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, q: int) -> list[tuple[Any, float]]:
        return [(_plain(i), float(s)) for i, s in zip(self.ids[q], self.scores[q])]

    def __iter__(self) -> Iterator[list[tuple[Any, float]]]:
        return (self[q] for q in range(len(self)))

    def to_list(self) -> list[list[tuple[Any, float]]]:
        return list(self)


def _plain(x: Any) -> Any:
    return x.item() if isinstance(x, np.generic) else x


def ids_array(ids: Sequence[Any]) -> np.ndarray:
    """Ids as int64 when all are ints, else an object array of str/int."""
    if all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in ids):
        return np.asarray(ids, dtype=np.int64).reshape(-1)
    arr = np.empty(len(ids), dtype=object)
    arr[:] = list(ids)
    return arr


def check_ids(new_ids: Sequence[Any], n_vectors: int, existing: set) -> list[Any]:
    """Validate ids: one per vector, str or int, unique within the index (`existing`)."""
    new_ids = list(new_ids)
    if len(new_ids) != n_vectors:
        raise InputError(f"ids: got {len(new_ids)} ids for {n_vectors} items")
    seen: set = set()
    for pos, i in enumerate(new_ids):
        if isinstance(i, np.integer):
            i = new_ids[pos] = int(i)
        if not isinstance(i, (str, int)) or isinstance(i, bool):
            raise InputError(f"ids[{pos}]: ids must be str or int, got {type(i).__name__}")
        if i in seen or i in existing:
            raise InputError(f"ids[{pos}]: duplicate id {i!r} (ids must be unique within an index)")
        seen.add(i)
    return new_ids


def take_ids(ids: Sequence[Any], rows: np.ndarray) -> np.ndarray:
    """ids[rows] as an array of rows' shape (only the hits are touched, not the whole id list); row -1 -> None."""
    picked = [ids[r] if r >= 0 else None for r in rows.ravel().tolist()]
    if None in picked:
        out = np.empty(len(picked), dtype=object)
        out[:] = picked
        return out.reshape(rows.shape)
    return ids_array(picked).reshape(rows.shape)


def check_queries(queries: np.ndarray, dim: int, fingerprint: str | None, index_fp: str, k: int, size: int) -> np.ndarray:
    """Shared query checks: same bundle, same width, 1 <= k <= index size."""
    if fingerprint is not None and fingerprint != index_fp:
        built, asked = tell_apart(index_fp, fingerprint)
        raise IndexMismatchError(f"index was built with bundle {built}, queries come from bundle {asked}; "
                                 "rebuild the index with this bundle (seje index build)")
    queries = np.asarray(queries, dtype=np.float32)
    if queries.ndim == 1:
        queries = queries[None]
    if queries.ndim != 2 or queries.shape[1] != dim:
        raise IndexMismatchError(f"queries have shape {queries.shape}, the index holds {dim}-d vectors")
    if size == 0:
        raise InputError("the index is empty: add items (add_recipes / add_images) or load an index first")
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise InputError(f"k must be a positive int, got {k!r}")
    if k > size:
        raise InputError(f"k={k} is larger than the index ({size} items); use k <= {size}")
    return queries


class IdBook:
    """Ids kept with an index, in row order, duplicates refused; shared by the exact and faiss indexes."""

    def __init__(self) -> None:
        self._ids: list[Any] = []
        self._id_set: set = set()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def ids(self) -> list[Any]:
        return list(self._ids)

    def _append_ids(self, ids: list[Any]) -> None:
        """Record checked ids (caller holds the lock); a new list so running searches keep theirs."""
        self._ids = self._ids + ids
        self._id_set.update(ids)

    def _set_ids(self, ids: list[Any]) -> None:
        self._ids, self._id_set = ids, set(ids)


class ExactIndex(IdBook):
    """Brute-force inner-product index; `dtype` float16 halves memory at ~1e-3 score error."""

    kind = "exact"

    def __init__(self, dim: int, fingerprint: str, dtype: str = "float32", modality: str = "recipe"):
        if dtype not in ("float32", "float16"):
            raise InputError(f"index dtype must be float32 or float16, got {dtype!r}")
        self.dim, self.fingerprint, self.dtype, self.modality = int(dim), fingerprint, dtype, modality
        self._chunks: list[np.ndarray] = []  # appended by add(), joined lazily: no O(n^2) copying when streaming
        self._base: np.ndarray = np.zeros((0, self.dim), dtype=dtype)
        super().__init__()

    @property
    def _matrix(self) -> np.ndarray:
        """The whole (n, dim) matrix (a memmap after load until something is added)."""
        with self._lock:
            return self._snapshot()[0]

    def _snapshot(self) -> tuple[np.ndarray, list[Any]]:
        if self._chunks:
            self._base = np.concatenate([np.asarray(self._base), *self._chunks])
            self._chunks = []
        return self._base, self._ids

    def add(self, vectors: np.ndarray, ids: Sequence[Any]) -> None:
        """Append (n, dim) vectors with their ids."""
        vectors = check_vectors(vectors, self.dim)
        with self._lock:
            ids = check_ids(ids, len(vectors), self._id_set)
            self._chunks.append(vectors.astype(self.dtype))
            self._append_ids(ids)

    def search(self, queries: np.ndarray, k: int = 10, fingerprint: str | None = None) -> SearchResult:
        """Top-k ids and scores per query (queries: (Q, dim) from the same bundle). k > index size raises InputError."""
        with self._lock:
            matrix, ids = self._snapshot()  # add() replaces these objects, never mutates them
        queries = check_queries(queries, self.dim, fingerprint, self.fingerprint, k, len(ids))
        scores, rows = topk_blockwise(queries, matrix, k)
        return SearchResult(take_ids(ids, rows), scores, positions=list(range(len(queries))))

    def save(self, path: str | os.PathLike) -> Path:
        """Write vectors.npy, ids.json and manifest.json (and a subclass's extra files) atomically into folder `path`."""
        with self._lock:
            matrix, ids = self._snapshot()
        with atomic_dir(path) as tmp:
            save_npy(tmp / "vectors.npy", np.asarray(matrix))
            write_json(tmp / "ids.json", ids)
            files = {"vectors.npy": sha256_file(tmp / "vectors.npy"), **self._extra_files(tmp)}
            write_manifest(tmp, self, files)
        return Path(path)

    def _extra_files(self, folder: Path) -> dict[str, str]:
        """Files beyond vectors.npy and ids.json that a kind writes into `folder`, with their sha256."""
        return {}

    @classmethod
    def load(cls, path: str | os.PathLike, manifest: dict, mmap: bool = True) -> "ExactIndex":
        """Read a saved index; the matrix is memory-mapped (mmap=True) rather than read into RAM."""
        index = cls(manifest["embedding_dim"], manifest["fingerprint"], manifest.get("dtype", "float32"), manifest.get("modality", "recipe"))
        index._load_vectors(Path(path), mmap)
        return index

    def _load_vectors(self, path: Path, mmap: bool) -> None:
        matrix = np.load(path / "vectors.npy", mmap_mode="r" if mmap else None)
        ids = read_ids(path)
        if matrix.shape != (len(ids), self.dim):
            raise IndexMismatchError(f"index {path}: vectors.npy is {matrix.shape} but there are {len(ids)} ids of dim {self.dim}")
        if str(matrix.dtype) != self.dtype:
            raise IndexMismatchError(f"index {path}: vectors.npy holds {matrix.dtype}, the manifest says {self.dtype}")
        self._base = matrix
        self._set_ids(ids)


def check_vectors(vectors: np.ndarray, dim: int) -> np.ndarray:
    """Vectors to add as float32 (n, dim), refusing another width (IndexMismatchError) or NaN/inf (InputError)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[1] != dim:
        raise IndexMismatchError(f"vectors have shape {vectors.shape}, the index holds {dim}-d vectors")
    if not np.isfinite(vectors).all():
        raise InputError("vectors contain NaN or inf")
    return vectors


def write_manifest(folder: Path, index: Any, files: dict[str, str]) -> None:
    """manifest.json of an index folder (schema, bundle fingerprint, dim, kind, sha256 of files)."""
    files = dict(files, **{"ids.json": sha256_file(folder / "ids.json")})
    write_json(
        folder / "manifest.json",
        {
            "schema_version": INDEX_SCHEMA,
            "seje_version": __version__,
            "kind": index.kind,
            "fingerprint": index.fingerprint,
            "embedding_dim": index.dim,
            "dtype": getattr(index, "dtype", "float32"),
            "modality": index.modality,
            "count": len(index),
            "params": getattr(index, "params", {}),
            "files": files,
        },
    )


def read_ids(path: Path) -> list[Any]:
    return json.loads((path / "ids.json").read_text(encoding="utf-8"))


def read_manifest(path: Path, schema: str, hint: str) -> dict:
    """An index folder's manifest.json, refusing a missing one or another schema (IndexMismatchError)."""
    return load_manifest(path, "schema_version", schema, IndexMismatchError,
                         f"index {path}: manifest.json is missing ({hint})",
                         lambda found: f"index {path}: schema {found!r}, this SDK reads {schema!r}; rebuild it")
