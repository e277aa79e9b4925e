"""Live updates of a saved index that survive kill -9: an append-only write log, replay, compaction.

A write (upsert or delete of one recipe or photo) is appended to `log.sqlite` (SQLite in WAL mode,
synchronous=FULL: the commit returns after the log is fsynced) before it is applied in memory and
acknowledged. At open, the newest index version is loaded and every logged write after it is
replayed. Compaction folds base + writes into a new version folder `versions/vNNNNNNNNNNNN`
(the number is the last write it holds) beside the old one, then points `CURRENT` at it with an
atomic rename, then trims the log; a crash at any point leaves either the old version + the whole
log or the new version + a log whose older rows are skipped on replay.

Layout of a live folder (default `<index>.live`): log.sqlite, CURRENT, versions/. The original
index folder is never modified.

    >>> live = LiveIndex.open("idx.live", "idx", bundle_fingerprint, 1024)     # doctest: +SKIP
    >>> live.put("recipe", "r1", vector, title="Toast")                        # doctest: +SKIP
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from seje_sdk.catalog import catalog_entry, catalog_root, read_catalog
from seje_sdk.errors import InputError
from seje_sdk.index import ExactIndex, SearchResult, check_queries
from seje_sdk.indexes import load_indexes, new_index, save_indexes
from seje_sdk.io import atomic_file

MODALITIES = ("recipe", "image")
_SCHEMA = """CREATE TABLE IF NOT EXISTS writes (seq INTEGER PRIMARY KEY AUTOINCREMENT, op TEXT NOT NULL,
             modality TEXT NOT NULL, item_id TEXT NOT NULL, vector BLOB, meta TEXT NOT NULL, written_at REAL NOT NULL)"""


class WriteLog:
    """The append-only log: one SQLite table, WAL journal, every commit fsynced (synchronous=FULL)."""

    def __init__(self, path: Path):
        self.conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute(_SCHEMA)
        self.lock = threading.Lock()

    def append(self, op: str, modality: str, item_id: Any, vector: np.ndarray | None, meta: dict) -> tuple[int, float]:
        """Log one write; returns (seq, time) once it is durable."""
        now = time.time()
        blob = None if vector is None else np.asarray(vector, np.float32).tobytes()
        with self.lock:
            cur = self.conn.execute("INSERT INTO writes (op, modality, item_id, vector, meta, written_at) VALUES (?,?,?,?,?,?)",
                                    (op, modality, json.dumps(item_id), blob, json.dumps(meta), now))
            return int(cur.lastrowid), now

    def since(self, seq: int) -> list[tuple]:
        with self.lock:
            return self.conn.execute("SELECT seq, op, modality, item_id, vector, meta, written_at FROM writes "
                                     "WHERE seq > ? ORDER BY seq", (seq,)).fetchall()

    def drop_through(self, seq: int) -> None:
        with self.lock:
            self.conn.execute("DELETE FROM writes WHERE seq <= ?", (seq,))

    def close(self) -> None:
        with self.lock:
            self.conn.close()


class LiveModality:
    """One modality's index as searched: a saved base minus hidden ids, plus vectors written since."""

    def __init__(self, base: Any, dim: int, fingerprint: str, modality: str):
        self.base, self.dim, self.fingerprint, self.modality = base, dim, fingerprint, modality
        self.vectors: dict[Any, np.ndarray] = {}  # written since the base
        self.hidden: set = set()  # base ids deleted or replaced since
        self.lock = threading.Lock()
        self._stacked: tuple[list[Any], np.ndarray] | None = None

    def __len__(self) -> int:
        return (len(self.base) if self.base is not None else 0) - len(self.hidden) + len(self.vectors)

    def has(self, item_id: Any) -> bool:
        in_base = self.base is not None and item_id in self.base._id_set and item_id not in self.hidden
        return item_id in self.vectors or in_base

    def put(self, item_id: Any, vector: np.ndarray) -> None:
        with self.lock:
            if self.base is not None and item_id in self.base._id_set:
                self.hidden.add(item_id)
            self.vectors[item_id] = np.asarray(vector, np.float32)
            self._stacked = None

    def remove(self, item_id: Any) -> None:
        with self.lock:
            if self.base is not None and item_id in self.base._id_set:
                self.hidden.add(item_id)
            self.vectors.pop(item_id, None)
            self._stacked = None

    def _snapshot(self) -> tuple[Any, set, list[Any], np.ndarray]:
        with self.lock:
            if self._stacked is None:
                ids = list(self.vectors)
                matrix = np.stack([self.vectors[i] for i in ids]) if ids else np.zeros((0, self.dim), np.float32)
                self._stacked = (ids, matrix)
            return self.base, set(self.hidden), *self._stacked

    def search(self, queries: np.ndarray, k: int = 10, fingerprint: str | None = None) -> SearchResult:
        """Top-k over base and written vectors together (same checks and result shape as the saved kinds)."""
        base, hidden, ids, matrix = self._snapshot()
        size = (len(base) if base is not None else 0) - len(hidden) + len(ids)
        queries = check_queries(queries, self.dim, fingerprint, self.fingerprint, k, size)
        merged: list[list[tuple[float, Any]]] = [[] for _ in range(len(queries))]
        if base is not None and len(base) > len(hidden):
            found = base.search(queries, min(len(base), k + len(hidden)), fingerprint=fingerprint)
            for q, hits in enumerate(found):
                merged[q] += [(s, i) for i, s in hits if i not in hidden]
        if ids:
            scores = queries @ matrix.T
            for q in range(len(queries)):
                merged[q] += [(float(s), i) for s, i in zip(scores[q], ids)]
        top = [sorted(m, key=lambda t: -t[0])[:k] for m in merged]
        out_ids = np.empty((len(top), k), dtype=object)
        out_ids[:] = [[i for _, i in row] for row in top]
        return SearchResult(out_ids, np.array([[s for s, _ in row] for row in top], np.float32),
                            positions=list(range(len(queries))))

    def add(self, vectors: np.ndarray, ids: Any) -> None:
        raise InputError("this index takes live writes: use Retriever.upsert (or PUT /items/...), not add_*")

    @property
    def _id_set(self) -> set:
        return set(self.vectors) | ((self.base._id_set - self.hidden) if self.base is not None else set())


class LiveIndex:
    """A saved index folder made writable: durable upserts and deletes, replay at open, compaction into versions."""

    def __init__(self, folder: Path, source: Path, fingerprint: str, dim: int):
        self.folder, self.source, self.fingerprint, self.dim = folder, source, fingerprint, dim
        self.log = WriteLog(folder / "log.sqlite")
        self.lock = threading.RLock()  # one write or compaction swap at a time
        self.compacting = threading.Lock()
        self.applied = 0  # the last write the loaded version holds
        self.pending = 0  # writes logged since that version
        self.modalities: dict[str, LiveModality] = {}
        self.catalog: dict[tuple[str, str], dict] = {}
        self.root: str | None = None

    @classmethod
    def open(cls, folder: str | os.PathLike, index_dir: str | os.PathLike, fingerprint: str, dim: int) -> "LiveIndex":
        """Open (creating it) the live folder over `index_dir`: load the newest version, replay the log after it."""
        folder = Path(folder)
        try:
            (folder / "versions").mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise InputError(f"live updates: cannot create {folder} ({e.strerror}); give a writable --live-dir") from None
        live = cls(folder, Path(index_dir), fingerprint, dim)
        with live.lock:
            live._load_version()
            live._replay()
        return live

    # --- reading ----------------------------------------------------------------------------
    def version_dir(self) -> Path:
        """The index folder holding the current version (the original index until the first compaction)."""
        current = self.folder / "CURRENT"
        return self.folder / "versions" / current.read_text().strip() if current.is_file() else self.source

    def get(self, modality: str, item_id: Any) -> dict | None:
        """What is stored for an id: title, recipe id, when written (None for items of the original index)."""
        _check_modality(modality)
        with self.lock:
            if not self.modalities[modality].has(item_id):
                return None
            row = self.catalog.get((modality, str(item_id)), {})
            return {"modality": modality, "id": item_id, "title": row.get("title"), "recipe_id": row.get("recipe_id"),
                    "written_at": row.get("written_at")}

    # --- writing ----------------------------------------------------------------------------
    def put(self, modality: str, item_id: Any, vector: np.ndarray, title: str | None = None,
            recipe_id: Any = None) -> dict:
        """Add or replace one item; returns its stored record once the write is durable."""
        _check_modality(modality)
        vector = np.asarray(vector, np.float32).reshape(-1)
        if vector.shape != (self.dim,) or not np.isfinite(vector).all():
            raise InputError(f"{modality} {item_id!r}: the vector must be {self.dim} finite floats")
        if recipe_id is not None and title is None:
            title = self.catalog.get(("recipe", str(recipe_id)), {}).get("title")
        meta = {"title": title, "recipe_id": recipe_id}
        with self.lock:
            seq, now = self.log.append("put", modality, item_id, vector, meta)
            self._apply(seq, "put", modality, item_id, vector, meta, now)
            return self.get(modality, item_id)

    def delete(self, modality: str, item_id: Any) -> bool:
        """Remove one item; False when it is not there (nothing is logged then)."""
        _check_modality(modality)
        with self.lock:
            if not self.modalities[modality].has(item_id):
                return False
            seq, now = self.log.append("delete", modality, item_id, None, {})
            self._apply(seq, "delete", modality, item_id, None, {}, now)
            return True

    def _apply(self, seq: int, op: str, modality: str, item_id: Any, vector: np.ndarray | None, meta: dict, at: float) -> None:
        if op == "put":
            self.modalities[modality].put(item_id, vector)
            self.catalog[(modality, str(item_id))] = dict(catalog_entry(item_id, modality, title=meta.get("title"),
                                                                        recipe_id=meta.get("recipe_id")), written_at=at)
        else:
            self.modalities[modality].remove(item_id)
            self.catalog.pop((modality, str(item_id)), None)
        self.applied_log, self.pending = seq, self.pending + 1

    # --- loading, replay, compaction ----------------------------------------------------------
    def _load_version(self) -> None:
        path = self.version_dir()
        bases = load_indexes(path, self.fingerprint) if (path / "manifest.json").is_file() else {}
        self.modalities = {m: LiveModality(bases.get(m), self.dim, self.fingerprint, m) for m in MODALITIES}
        self.catalog, self.root = read_catalog(path), catalog_root(path)
        self.applied = int(path.name[1:]) if path.parent == self.folder / "versions" else 0
        self.applied_log, self.pending = self.applied, 0

    def _replay(self) -> None:
        for seq, op, modality, item_id, blob, meta, at in self.log.since(self.applied):
            vector = None if blob is None else np.frombuffer(blob, np.float32)
            self._apply(seq, op, modality, json.loads(item_id), vector, json.loads(meta), at)

    def compact(self) -> Path:
        """Write base + logged writes as a new version beside the old, switch CURRENT to it atomically, trim the log."""
        with self.compacting:
            with self.lock:
                upto = self.applied_log
                parts = {m: _materialise(lm) for m, lm in self.modalities.items()}
                catalog = [row for row in self.catalog.values()]
            parts = {m: p for m, p in parts.items() if p is not None and len(p)}
            if not parts:
                raise InputError("live index: nothing to compact (both modalities are empty)")
            name = f"v{upto:012d}"
            kind = next(iter(parts.values())).kind
            save_indexes(self.folder / "versions" / name, parts, self.fingerprint, kind, catalog=catalog, catalog_root=self.root)
            with self.lock:
                with atomic_file(self.folder / "CURRENT", "w") as f:
                    f.write(name + "\n")
                _fsync_dir(self.folder)
                self._load_version()
                self._replay()  # writes that arrived while the version was being written
            self.log.drop_through(upto)
            for old in (self.folder / "versions").iterdir():
                if old.name != name and not old.name.startswith("."):
                    shutil.rmtree(old, ignore_errors=True)
            return self.folder / "versions" / name

    def maybe_compact(self, every: int) -> bool:
        """Compact when `every` writes have been logged since the current version (and no compaction runs)."""
        if self.pending < every or self.compacting.locked():
            return False
        self.compact()
        return True

    def close(self) -> None:
        self.log.close()


def _materialise(lm: LiveModality) -> Any:
    """A new exact index (the base's kind and dtype) holding base minus hidden plus written vectors."""
    base, hidden, ids, matrix = lm._snapshot()
    if base is not None and not isinstance(base, ExactIndex):
        raise InputError(f"live index: compaction folds into exact kinds only, the {lm.modality} index is "
                         f"{base.kind!r}; the writes stay in the log (rebuild with `seje index build BUNDLE_DIR --recipes RECIPES_JSON --kind exact --out INDEX_DIR`)")
    kind = "exact" if base is None else ("exact-fp16" if base.dtype == "float16" and base.kind == "exact" else base.kind)
    out = new_index(kind, lm.dim, lm.fingerprint, lm.modality)
    if base is not None and len(base):
        keep = [r for r, i in enumerate(base.ids) if i not in hidden]
        out.add(np.asarray(base._matrix, np.float32)[keep], [base.ids[r] for r in keep])
    if ids:
        out.add(matrix, ids)
    return out


def _check_modality(modality: str) -> None:
    if modality not in MODALITIES:
        raise InputError(f"modality must be 'recipe' or 'image', got {modality!r}")


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
