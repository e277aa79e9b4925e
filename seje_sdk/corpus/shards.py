"""The shard folder layout, and reading it back one shard at a time.

    DIR/manifest.json                  bundle fingerprint, source, shard size, dtype, totals
    DIR/embeddings/part-00000.npy      (n, d) float32 or float16, L2-normalised rows
    DIR/metadata/part-00000.parquet    id, position (in the source), title (recipes) or path (images)
    DIR/reports/part-00000.json        items skipped in the shard: id, position, reason

A shard is complete when its embeddings file exists: it is renamed into place last.

Example:
    >>> shards = ShardSet.open("corpus/")                          # doctest: +SKIP
    >>> for part in shards.parts(): index.add(part.vectors(), part.ids())   # doctest: +SKIP
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from seje_sdk.errors import InputError
from seje_sdk.io import load_manifest

CORPUS_SCHEMA = "seje-corpus/1"
DTYPES = ("float32", "float16")  # of embeddings/part-NNNNN.npy
EMBEDDINGS, METADATA, REPORTS = "embeddings", "metadata", "reports"


def shard_name(number: int) -> str:
    return f"part-{number:05d}"


def shard_paths(root: Path, number: int) -> dict[str, Path]:
    name = shard_name(number)
    return {"embeddings": root / EMBEDDINGS / f"{name}.npy", "metadata": root / METADATA / f"{name}.parquet",
            "report": root / REPORTS / f"{name}.json"}


def label_column(modality: str) -> str:
    """The metadata column people read: a recipe's title, an image's path."""
    return "title" if modality == "recipe" else "path"


@dataclass(frozen=True)
class Part:
    """One complete shard on disk."""

    root: Path
    number: int
    modality: str

    def vectors(self) -> np.ndarray:
        """The shard's (n, d) embeddings, memory-mapped."""
        return np.load(shard_paths(self.root, self.number)["embeddings"], mmap_mode="r")

    def metadata(self) -> dict[str, list[Any]]:
        import pyarrow.parquet as pq

        return pq.read_table(shard_paths(self.root, self.number)["metadata"]).to_pydict()

    def report(self) -> dict[str, Any]:
        return json.loads(shard_paths(self.root, self.number)["report"].read_text(encoding="utf-8"))


@dataclass(frozen=True)
class ShardSet:
    """A finished (or partly finished) embed-corpus output folder."""

    root: Path
    manifest: dict[str, Any]

    @classmethod
    def open(cls, path: str | os.PathLike) -> "ShardSet":
        """Read DIR/manifest.json, refusing a folder that embed-corpus did not write."""
        manifest = load_manifest(path, "schema_version", CORPUS_SCHEMA, InputError,
                                 f"{path}: no manifest.json; make shards with `seje embed-corpus BUNDLE SOURCE --out {path}`",
                                 lambda found: f"{path}: schema {found!r}, expected {CORPUS_SCHEMA!r}")
        return cls(Path(path), manifest)

    @property
    def modality(self) -> str:
        return self.manifest["source"]["modality"]

    @property
    def fingerprint(self) -> str:
        return self.manifest["fingerprint"]

    @property
    def dim(self) -> int:
        return int(self.manifest["embedding_dim"])

    def numbers(self) -> list[int]:
        """Numbers of the complete shards, ascending."""
        folder = self.root / EMBEDDINGS
        names = sorted(f.stem for f in folder.glob("part-*.npy")) if folder.is_dir() else []
        return [int(n.split("-")[1]) for n in names]

    def parts(self) -> Iterator[Part]:
        for n in self.numbers():
            yield Part(self.root, n, self.modality)

    def require_complete(self) -> None:
        """Refuse a job that has not finished (its manifest has no totals yet, or a shard is missing)."""
        totals = self.manifest.get("totals")
        if not totals or totals.get("shards") != len(self.numbers()):
            raise InputError(f"{self.root}: the embed-corpus job has not finished (rerun the same command to resume it)")

    def count(self) -> int:
        """Number of embedded rows over all complete shards (from the .npy headers; no vectors read)."""
        return sum(p.vectors().shape[0] for p in self.parts())
