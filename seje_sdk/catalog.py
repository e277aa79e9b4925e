"""What each indexed id is, for people: a recipe's title, an image's path.

An index folder stores vectors and ids; `catalog.jsonl` beside its manifest says what each id
shows, so `seje search`, the service and its page can print titles and thumbnails. A recipe's
row may carry the path of one of its photos (found through a Recipe1M layer2.json), so recipe
hits get thumbnails too.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

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


def recipe_photos(layer1: str | os.PathLike, recipes: Sequence[dict]) -> dict[str, str]:
    """{recipe id: absolute path of its first photo} from a layer2.json beside `layer1` (Recipe1M layout); {} without one.

    Photos live at images/<partition>/<c0>/<c1>/<c2>/<c3>/<image id>; only files that exist are listed.
    """
    data = Path(layer1).resolve().parent
    layer2 = data / "layer2.json"
    if not layer2.is_file():
        return {}
    partitions = {str(r.get("id")): r.get("partition") for r in recipes}
    out: dict[str, str] = {}
    for row in json.loads(layer2.read_text(encoding="utf-8")):
        rid = str(row.get("id"))
        if partitions.get(rid) is None:
            continue
        for image in row.get("images", []):
            path = data / "images" / str(partitions[rid]) / Path(*image["id"][:4]) / image["id"]
            if path.is_file():
                out[rid] = str(path)
                break
    return out


def recipe_rows(recipes: Sequence[dict], ids: Sequence[Any], photos: dict[str, str]) -> list[dict[str, Any]]:
    """Catalog rows for indexed recipes: the title, and a photo path where `photos` has one."""
    return [catalog_entry(i, "recipe", title=rec.get("title"), path=photos.get(str(i))) for rec, i in zip(recipes, ids)]


def image_rows(paths: Sequence[Any], ids: Sequence[Any]) -> list[dict[str, Any]]:
    """Catalog rows for indexed image files: the absolute path (served as the thumbnail)."""
    return [catalog_entry(i, "image", path=str(Path(p).resolve())) for p, i in zip(paths, ids)]


def hit_title(catalog: dict, modality: str, item_id: Any) -> str | None:
    """What a hit shows people: its title, else its file name; None when the catalog has no row for it."""
    row = catalog.get((modality, str(item_id)))
    if row is None:
        return None
    return row.get("title") or (Path(row["path"]).name if row.get("path") else None)
