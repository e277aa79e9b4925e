"""Writes shards (embeddings .npy, metadata .parquet, report .json) atomically, and the job's manifest.

Each file goes to a temporary name beside it and is renamed when complete (seje_sdk.io); the
embeddings file is renamed last, so its presence marks a complete shard and a restarted job skips
it. A restarted job must match the manifest (same bundle, source, shard size, dtype): mixing
shards of two configurations in one folder would give an index of unrelated vectors.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from seje_sdk.corpus.encoder import ShardResult
from seje_sdk.corpus.shards import CORPUS_SCHEMA, DTYPES, EMBEDDINGS, METADATA, REPORTS, label_column, shard_paths
from seje_sdk.errors import InputError
from seje_sdk.io import atomic_file, save_npy, write_json
from seje_sdk.version import __version__

MATCHED_KEYS = ("fingerprint", "source", "shard_size", "dtype", "embedding_dim")


class ShardWriter:
    """Writes complete shards into DIR and says which ones already exist."""

    def __init__(self, root: str | Path, dtype: str, modality: str):
        if dtype not in DTYPES:
            raise InputError(f"shard dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        self.root, self.dtype, self.modality = Path(root), dtype, modality

    def is_complete(self, number: int) -> bool:
        return shard_paths(self.root, number)["embeddings"].is_file()

    def remove_temporaries(self) -> int:
        """Delete temp files a killed job left behind (dot-named *.tmp in the shard folders); returns how many."""
        removed = 0
        for sub in (EMBEDDINGS, METADATA, REPORTS):
            for tmp in (self.root / sub).glob(".part-*.tmp"):
                tmp.unlink(missing_ok=True)
                removed += 1
        return removed

    def write(self, result: ShardResult) -> None:
        """Report, then metadata, then embeddings (the completion mark), each renamed into place when written."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        paths = shard_paths(self.root, result.number)
        write_json(paths["report"], {"shard": result.number, "items": result.size, "embedded": len(result.ids),
                                     "skipped": result.skipped})
        table = pa.table({"id": pa.array(result.ids, pa.string()), "position": pa.array(result.positions, pa.int64()),
                          label_column(self.modality): pa.array(result.labels, pa.string())})
        with atomic_file(paths["metadata"], "wb") as f:
            pq.write_table(table, f)
        save_npy(paths["embeddings"], np.ascontiguousarray(result.vectors, dtype=self.dtype))


def open_manifest(root: Path, wanted: dict[str, Any]) -> dict[str, Any]:
    """Start DIR/manifest.json, or check that an existing one describes the same job (InputError if not)."""
    path = root / "manifest.json"
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        diff = [k for k in MATCHED_KEYS if old.get(k) != wanted.get(k)]
        if old.get("schema_version") != CORPUS_SCHEMA or diff:
            what = ", ".join(f"{k}: {old.get(k)!r} there, {wanted.get(k)!r} now" for k in diff) or "another schema"
            raise InputError(f"{root} holds shards of another job ({what}); use a new --out folder or the same options")
        return old
    if root.exists() and any(root.iterdir()):
        raise InputError(f"{root} exists and is not an embed-corpus folder; give an empty or new --out folder")
    manifest = {"schema_version": CORPUS_SCHEMA, "seje_version": __version__, **wanted}
    write_json(path, manifest)
    return manifest


def finish_manifest(root: Path, manifest: dict[str, Any], totals: dict[str, Any]) -> dict[str, Any]:
    """Record the finished job's totals (shards, items embedded, items skipped)."""
    manifest = {**manifest, "totals": totals}
    write_json(root / "manifest.json", manifest)
    return manifest


def summarise_reports(root: Path, numbers: list[int]) -> dict[str, int]:
    """Totals over the shards' reports (read back, so a resumed job counts the shards done before it)."""
    embedded = skipped = 0
    for n in numbers:
        report = json.loads(shard_paths(root, n)["report"].read_text(encoding="utf-8"))
        embedded += report["embedded"]
        skipped += len(report["skipped"])
    return {"shards": len(numbers), "embedded": embedded, "skipped": skipped}
