"""Approximate search with FAISS (optional `faiss-cpu` extra): HNSW, IVF and IVF-PQ behind the ExactIndex API.

Embeddings are L2-normalised, so inner product (METRIC_INNER_PRODUCT) ranks like cosine.
HNSW grows incrementally. "ivf" scans the `nprobe` nearest of `nlist` k-means cells with 8-bit
scalar-quantised codes, then re-ranks a shortlist of `shortlist_factor` x k rows with their
float16 vectors (FAISS IndexRefine), so its scores are float16-exact. IVF kinds are trained on the
first `add` (ivf: on a seeded sample of at most `train_size` of its rows); give it at least
39 * nlist vectors, FAISS's own rule of thumb, or nlist is lowered with a warning.

Example:
    >>> idx = FaissIndex("hnsw", dim=64, fingerprint="abc", modality="recipe")   # doctest: +SKIP
    >>> idx.add(vectors, ids); idx.search(queries, k=10, fingerprint="abc")       # doctest: +SKIP
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from seje_sdk.errors import InputError
from seje_sdk.index import IdBook, SearchResult, check_vectors, check_ids, check_queries, read_ids, take_ids, write_manifest
from seje_sdk.io import atomic_dir, atomic_file, sha256_file, write_json

DEFAULTS = {"hnsw": {"M": 32, "ef_construction": 80, "ef_search": 128},
            "ivf": {"nlist": 2048, "nprobe": 8, "shortlist_factor": 4, "train_size": 100_000},
            "ivfpq": {"nlist": 1024, "m": 16, "nbits": 8, "nprobe": 16}}
LIMITS = {"M": (2, 256), "ef_construction": (1, 4096), "ef_search": (1, 65536), "nlist": (1, 1 << 20), "nprobe": (1, 1 << 20),
          "shortlist_factor": (1, 1024), "train_size": (1, 1 << 31), "m": (1, 4096), "nbits": (1, 16)}


def import_faiss():
    """The faiss module, or InputError explaining how to get it."""
    try:
        import faiss
    except ImportError as e:
        raise InputError("approximate indexes need FAISS: pip install 'seje[faiss]' (faiss-cpu), or use index='exact'") from e
    return faiss


class FaissIndex(IdBook):
    """A faiss HNSW or IVF-PQ index with arbitrary ids; searches are guarded by a lock (faiss params are shared state)."""

    def __init__(self, kind: str, dim: int, fingerprint: str, modality: str = "recipe", **params: Any):
        if kind not in DEFAULTS:
            raise InputError(f"faiss index kind must be hnsw or ivfpq, got {kind!r}")
        unknown = set(params) - set(DEFAULTS[kind])
        if unknown:
            raise InputError(f"{kind} index: unknown parameters {sorted(unknown)}; known {sorted(DEFAULTS[kind])}")
        self.kind, self.dim, self.fingerprint, self.modality = kind, int(dim), fingerprint, modality
        self.params = {**DEFAULTS[kind], **params}
        for name, value in self.params.items():
            check_param(kind, name, value)
        self._faiss = import_faiss()
        self._index = None
        super().__init__()

    def _build(self, train: np.ndarray):
        faiss, p = self._faiss, self.params
        if self.kind == "hnsw":
            index = faiss.IndexHNSWFlat(self.dim, p["M"], faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = p["ef_construction"]
            return index
        if self.kind == "ivf":
            train = train[np.sort(np.random.default_rng(0).permutation(len(train))[: p["train_size"]])]
        nlist = p["nlist"]
        if len(train) < 39 * nlist:
            nlist = max(1, len(train) // 39)
            warnings.warn(f"{self.kind}: {len(train)} training vectors are too few for nlist={p['nlist']}; using nlist={nlist}", stacklevel=3)
            self.params["nlist"] = nlist
        if self.kind == "ivf":
            index = faiss.index_factory(self.dim, f"IVF{nlist},SQ8,Refine(SQfp16)", faiss.METRIC_INNER_PRODUCT)
            index.train(np.ascontiguousarray(train))
            return index
        if self.dim % p["m"]:
            raise InputError(f"ivfpq: m={p['m']} sub-quantizers must divide the embedding dim {self.dim}")
        if len(train) < 2 ** p["nbits"]:
            raise InputError(f"ivfpq: needs at least {2 ** p['nbits']} vectors to train its codebooks, got {len(train)}; add more at once or use exact/hnsw")
        quantizer = faiss.IndexFlatIP(self.dim)
        index = faiss.IndexIVFPQ(quantizer, self.dim, nlist, p["m"], p["nbits"], faiss.METRIC_INNER_PRODUCT)
        index.train(train)
        self._quantizer = quantizer  # keep the Python object alive alongside the index
        return index

    def add(self, vectors: np.ndarray, ids: Sequence[Any]) -> None:
        """Append vectors (the first add trains IVF-PQ)."""
        vectors = np.ascontiguousarray(check_vectors(vectors, self.dim))
        with self._lock:
            ids = check_ids(ids, len(vectors), self._id_set)
            if self._index is None:
                self._index = self._build(vectors)
            self._index.add(vectors)
            self._append_ids(ids)

    def search(self, queries: np.ndarray, k: int = 10, fingerprint: str | None = None) -> SearchResult:
        """Approximate top-k; rows FAISS could not fill come back with id None and score -inf."""
        queries = np.ascontiguousarray(check_queries(queries, self.dim, fingerprint, self.fingerprint, k, len(self)))
        with self._lock:
            if self.kind == "hnsw":
                self._index.hnsw.efSearch = max(self.params["ef_search"], k)
            elif self.kind == "ivf":
                self._faiss.extract_index_ivf(self._index).nprobe = self.params["nprobe"]
                self._faiss.downcast_index(self._index).k_factor = float(self.params["shortlist_factor"])
            else:
                self._index.nprobe = self.params["nprobe"]
            scores, rows = self._index.search(queries, k)
            ids = self._ids
        scores = np.where(rows >= 0, scores, -np.inf).astype(np.float32)
        return SearchResult(take_ids(ids, rows), scores, positions=list(range(len(queries))))

    def save(self, path: str | os.PathLike) -> Path:
        """Write index.faiss, ids.json and manifest.json atomically."""
        if self._index is None:
            raise InputError("cannot save an empty index: add vectors first")
        with atomic_dir(path) as tmp:
            with atomic_file(tmp / "index.faiss") as f:
                f.write(self._faiss.serialize_index(self._index).tobytes())
            write_json(tmp / "ids.json", self._ids)
            write_manifest(tmp, self, {"index.faiss": sha256_file(tmp / "index.faiss")})
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike, manifest: dict, mmap: bool = True) -> "FaissIndex":
        """Read a saved index (into memory: FAISS cannot memory-map it, so `mmap` does not apply)."""
        path = Path(path)
        index = cls(manifest["kind"], manifest["embedding_dim"], manifest["fingerprint"], manifest.get("modality", "recipe"), **manifest.get("params", {}))
        data = np.frombuffer((path / "index.faiss").read_bytes(), dtype=np.uint8)
        index._index = index._faiss.deserialize_index(data)
        index._set_ids(read_ids(path))
        return index


def check_param(kind: str, name: str, value: Any) -> None:
    """InputError unless `value` is an integer within the range FAISS accepts for parameter `name`."""
    low, high = LIMITS[name]
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise InputError(f"{kind} index: {name} must be an integer from {low:,} to {high:,}, got {value!r}")
