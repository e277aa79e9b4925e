"""The index kinds in one table: what each is, how to make an empty one and how to load a saved one.

Kinds: "exact" and "exact-fp16" (seje_sdk/index.py), "exact-int8" (seje_sdk/index_int8.py),
"hnsw", "ivf" and "ivfpq" (seje_sdk/index_faiss.py, optional faiss-cpu). Those modules import
onnxruntime and faiss only when an index is made, so importing this one stays light. Adding a kind touches this
module only; the CLI's choices come from `INDEX_KINDS`. The kind modules never import this one,
so the index modules form no import circle.

A Retriever index folder (`save_indexes`, `seje index build`) holds one index folder per modality
plus a manifest naming the bundle fingerprint, the modalities and the kind, and an optional
catalog.jsonl (seje_sdk/catalog.py).

Example:
    >>> idx = new_index("exact", 4, "abc", "recipe")
    >>> idx.add(np.eye(4, dtype=np.float32), ids=["a", "b", "c", "d"])
    >>> idx.search(np.eye(4, dtype=np.float32)[1:2], k=1, fingerprint="abc")[0]
    [('b', 1.0)]
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol, Sequence

import numpy as np

from seje_sdk.errors import IndexMismatchError, InputError, tell_apart
from seje_sdk.index import INDEX_SCHEMA, ExactIndex, SearchResult, read_manifest
from seje_sdk.index_faiss import DEFAULTS as FAISS_DEFAULTS, FaissIndex
from seje_sdk.index_int8 import Int8ExactIndex
from seje_sdk.io import atomic_dir, sha256_file, write_json

RETRIEVER_INDEX_SCHEMA = "seje-retriever-index/1"  # a folder of per-modality indexes (Retriever.save_index)


class Index(Protocol):
    """What every index kind offers (ExactIndex, Int8ExactIndex, FaissIndex)."""

    kind: str
    dim: int
    fingerprint: str
    modality: str

    def __len__(self) -> int: ...

    @property
    def ids(self) -> list[Any]: ...

    def add(self, vectors: np.ndarray, ids: Sequence[Any]) -> None: ...

    def search(self, queries: np.ndarray, k: int = 10, fingerprint: str | None = None) -> SearchResult: ...

    def save(self, path: str | os.PathLike) -> Path: ...


@dataclass(frozen=True)
class IndexKind:
    """One kind: `make(dim, fingerprint, modality, **params)` builds it empty, `load(path, manifest, mmap=)` reads it."""

    params: tuple[str, ...]
    make: Callable[..., Index]
    load: Callable[..., Index]


def _exact(dtype: str) -> Callable[..., Index]:
    return lambda dim, fingerprint, modality: ExactIndex(dim, fingerprint, dtype, modality)


def _faiss(kind: str) -> Callable[..., Index]:
    return lambda dim, fingerprint, modality, **params: FaissIndex(kind, dim, fingerprint, modality, **params)


KINDS: dict[str, IndexKind] = {
    "exact": IndexKind((), _exact("float32"), ExactIndex.load),
    "exact-fp16": IndexKind((), _exact("float16"), ExactIndex.load),  # saved as kind "exact", dtype float16
    "exact-int8": IndexKind(("shortlist",), Int8ExactIndex, Int8ExactIndex.load),
    "hnsw": IndexKind(tuple(FAISS_DEFAULTS["hnsw"]), _faiss("hnsw"), FaissIndex.load),
    "ivf": IndexKind(tuple(FAISS_DEFAULTS["ivf"]), _faiss("ivf"), FaissIndex.load),
    "ivfpq": IndexKind(tuple(FAISS_DEFAULTS["ivfpq"]), _faiss("ivfpq"), FaissIndex.load),
}
INDEX_KINDS = tuple(KINDS)


def index_kind(name: str) -> IndexKind:
    """The table entry for `name`, or InputError listing the kinds."""
    if name not in KINDS:
        raise InputError(f"unknown index kind {name!r}; use {', '.join(INDEX_KINDS)}")
    return KINDS[name]


def new_index(kind: str, dim: int, fingerprint: str, modality: str, **params: Any) -> Index:
    """An empty index of `kind`: 'exact' (default), 'exact-fp16', 'exact-int8', 'hnsw', 'ivf' or 'ivfpq' (faiss-cpu)."""
    entry = index_kind(kind)
    unknown = set(params) - set(entry.params)
    if unknown:
        raise InputError(f"{kind} index: unknown parameters {sorted(unknown)}; known {sorted(entry.params)}")
    return entry.make(dim, fingerprint, modality, **params)


def load_index(path: str | os.PathLike, mmap: bool = True, verify: bool = True) -> Index:
    """Load an index folder written by `save` (any kind), checking schema and sha256s."""
    path = Path(path)
    manifest = read_manifest(path, INDEX_SCHEMA, "build one with `seje index build BUNDLE_DIR --recipes RECIPES_JSON --out INDEX_DIR`")
    if verify:
        for rel, digest in manifest.get("files", {}).items():
            if not (path / rel).is_file() or sha256_file(path / rel) != digest:
                raise IndexMismatchError(f"index {path}: {rel} is missing or does not match its sha256; rebuild the index")
    if manifest.get("kind") not in KINDS:
        raise IndexMismatchError(f"index {path}: kind {manifest.get('kind')!r} is not one this SDK reads ({', '.join(INDEX_KINDS)})")
    return KINDS[manifest["kind"]].load(path, manifest, mmap=mmap)


def write_indexes_manifest(folder: Path, fingerprint: str, modalities: Iterable[str], kind: str) -> None:
    """manifest.json of a Retriever index folder (bundle fingerprint, modalities, kind)."""
    write_json(folder / "manifest.json", {"schema_version": RETRIEVER_INDEX_SCHEMA, "fingerprint": fingerprint,
                                          "modalities": sorted(modalities), "kind": kind})


def save_indexes(path: str | os.PathLike, indexes: dict[str, Index], fingerprint: str, kind: str,
                 catalog: Sequence[dict] | None = None, catalog_root: str | os.PathLike | None = None) -> Path:
    """Save {modality: index} as subfolders of `path` plus a manifest (and `catalog` rows, see seje_sdk.catalog), atomically."""
    if not indexes:
        raise InputError("nothing to save: both indexes are empty")
    with atomic_dir(path) as tmp:
        for modality, index in indexes.items():
            index.save(tmp / modality)
        if catalog is not None:
            from seje_sdk.catalog import write_catalog

            write_catalog(tmp, catalog, root=catalog_root)
        write_indexes_manifest(tmp, fingerprint, indexes, kind)
    return Path(path)


def load_indexes(path: str | os.PathLike, fingerprint: str, mmap: bool = True) -> dict[str, Index]:
    """Load a save_indexes folder, refusing one built with another bundle (IndexMismatchError)."""
    path = Path(path)
    manifest = read_manifest(path, RETRIEVER_INDEX_SCHEMA, "make one with save_index or `seje index build BUNDLE_DIR --recipes RECIPES_JSON --out INDEX_DIR`")
    if manifest.get("fingerprint") != fingerprint:
        built, runs = tell_apart(str(manifest.get("fingerprint")), fingerprint)
        raise IndexMismatchError(f"index {path} was built with bundle {built}, this retriever runs bundle {runs}; "
                                 "rebuild the index with this bundle (seje index build)")
    return {m: load_index(path / m, mmap=mmap) for m in manifest["modalities"]}
