"""What each indexed id is, for people: a recipe's title, an image's path.

An index folder stores vectors and ids; `catalog.jsonl` beside its manifest says what each id
shows, so `seje search`, the service and its page can print titles and thumbnails.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

from seje_sdk.io import atomic_file

CATALOG_FILE = "catalog.jsonl"


def catalog_entry(item_id: Any, modality: str, title: str | None = None, path: str | None = None) -> dict[str, Any]:
    """One catalog row: id, modality ('recipe' or 'image'), and the title and/or path when known."""
    row: dict[str, Any] = {"id": item_id, "modality": modality}
    if title is not None:
        row["title"] = str(title)
    if path is not None:
        row["path"] = str(path)
    return row


def write_catalog(folder: str | os.PathLike, rows: Iterable[dict[str, Any]]) -> Path:
    """Write rows (see `catalog_entry`) as `folder/catalog.jsonl`, atomically."""
    path = Path(folder) / CATALOG_FILE
    with atomic_file(path, "w") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def read_catalog(folder: str | os.PathLike) -> dict[tuple[str, str], dict[str, Any]]:
    """{(modality, str(id)): row} from `folder/catalog.jsonl`; empty when the folder has none."""
    path = Path(folder) / CATALOG_FILE
    if not path.is_file():
        return {}
    out: dict[tuple[str, str], dict[str, Any]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                out[(row["modality"], str(row["id"]))] = row
    return out
