"""Readers of users' recipe collections, row by row: JSONL, CSV, parquet, a photo folder with a
recipes file beside the photos, and a Hugging Face `datasets` folder written by `save_to_disk`.

Every reader streams (one row, or one parquet/arrow batch, in memory at a time) and yields
(where, row): `where` names the file and row for messages, `row` is a plain dict whose keys are
already mapped to the importer's field names (FIELDS; a few common aliases are accepted).
The Hugging Face folder is read with pyarrow directly (its data-*.arrow files are Arrow
streams), so the `datasets` package is not needed to import one.
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from seje_sdk.errors import InputError
from seje_sdk.extras import require_extra

FIELDS = ("id", "title", "ingredients", "instructions", "images", "category", "partition")
ALIASES = {"image": "images", "photos": "images", "photo": "images", "name": "title", "directions": "instructions",
           "steps": "instructions", "method": "instructions", "split": "partition", "label": "category",
           "class": "category", "ingredient_lines": "ingredients"}
RECIPE_FILE_SUFFIXES = (".jsonl", ".csv", ".parquet")
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif")
HF_SPLITS = {"train": "train", "validation": "val", "valid": "val", "val": "val", "dev": "val", "test": "test"}


@dataclass(frozen=True)
class Source:
    """What SOURCE turned out to be: its format, the recipes file(s), and where relative photo paths start."""

    path: Path
    format: str  # "jsonl" | "csv" | "parquet" | "folder" | "hf"
    recipes_file: Path
    images_root: Path
    photo_folder: Path | None = None  # the folder whose photos should all belong to a recipe ("folder" format)


def open_source(source: str | os.PathLike, images_root: str | os.PathLike | None = None) -> Source:
    """Recognise SOURCE (a recipes file, a photo folder with one recipes file, or a saved HF dataset)."""
    path = Path(source)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder; give a .jsonl, .csv or .parquet file, a folder of photos "
                         "with one such file beside them, or a Hugging Face dataset folder (save_to_disk)")
    if path.is_file():
        fmt = path.suffix.lower().lstrip(".")
        if f".{fmt}" not in RECIPE_FILE_SUFFIXES:
            raise InputError(f"{path}: unknown recipes file type {path.suffix!r}; expected one of {RECIPE_FILE_SUFFIXES}")
        return Source(path, fmt, path, Path(images_root or path.parent))
    if (path / "state.json").is_file() or (path / "dataset_dict.json").is_file():
        return Source(path, "hf", path, Path(images_root or path))
    found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in RECIPE_FILE_SUFFIXES)
    if len(found) != 1:
        raise InputError(f"{path}: a photo folder needs exactly one recipes file ({', '.join(RECIPE_FILE_SUFFIXES)}) "
                         f"at its top level, found {[p.name for p in found] or 'none'}")
    return Source(path, "folder", found[0], Path(images_root or path), photo_folder=path)


def iter_rows(source: Source) -> Iterator[tuple[str, dict]]:
    """(where, row) for every recipe row of `source`, in file order, keys mapped to FIELDS."""
    if source.format == "hf":
        rows = _hf_rows(source.path)
    else:
        kind = source.recipes_file.suffix.lower()
        rows = {".jsonl": _jsonl_rows, ".csv": _csv_rows, ".parquet": _parquet_rows}[kind](source.recipes_file)
    for where, row in rows:
        yield where, {ALIASES.get(k.strip().lower(), k.strip().lower()): v for k, v in row.items()}


def iter_photos(folder: Path) -> Iterator[Path]:
    """Every photo file under `folder` (by suffix), in a stable order, without listing it all at once."""
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            if name.lower().endswith(PHOTO_SUFFIXES):
                yield Path(root, name)


def _jsonl_rows(path: Path) -> Iterator[tuple[str, dict]]:
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                yield f"{path} line {i}", {"__error__": f"not valid JSON ({e.msg} at column {e.colno})"}
                continue
            yield f"{path} line {i}", row if isinstance(row, dict) else {"__error__": "not a JSON object"}


def _csv_rows(path: Path) -> Iterator[tuple[str, dict]]:
    csv.field_size_limit(2**31 - 1)  # instructions cells can be long
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames:
            raise InputError(f"{path}: empty CSV; the first line must name the columns (title, ingredients, ...)")
        for row in reader:
            extra = row.pop(None, None)  # cells beyond the header
            where = f"{path} line {reader.line_num}"
            yield where, {"__error__": f"{len(extra)} more cells than header columns"} if extra else row


def _parquet_rows(path: Path) -> Iterator[tuple[str, dict]]:
    require_extra(f"reading {path.name} (parquet)", "corpus", modules=("pyarrow",))
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises ArrowInvalid/OSError with its own wording
        raise InputError(f"{path}: not a readable parquet file ({e})") from e
    n = 0
    for batch in table.iter_batches(batch_size=1024):
        for row in batch.to_pylist():
            n += 1
            yield f"{path} row {n}", row


def _hf_rows(path: Path) -> Iterator[tuple[str, dict]]:
    """Rows of a save_to_disk folder: one Dataset (state.json) or a DatasetDict (one folder per split)."""
    if (path / "dataset_dict.json").is_file():
        splits = json.loads((path / "dataset_dict.json").read_text(encoding="utf-8")).get("splits", [])
        for split in splits:
            for where, row in _hf_dataset_rows(path / split):
                if "partition" not in row and HF_SPLITS.get(split):
                    row["partition"] = HF_SPLITS[split]
                yield where, row
    else:
        yield from _hf_dataset_rows(path)


def _hf_dataset_rows(folder: Path) -> Iterator[tuple[str, dict]]:
    require_extra(f"reading {folder} (a Hugging Face datasets folder)", "corpus", modules=("pyarrow",))
    import pyarrow as pa

    state_path = folder / "state.json"
    if not state_path.is_file():
        raise InputError(f"{folder}: no state.json; expected a folder written by datasets' save_to_disk")
    files = [folder / d["filename"] for d in json.loads(state_path.read_text(encoding="utf-8")).get("_data_files", [])]
    n = 0
    for file in files:
        try:
            with pa.memory_map(str(file)) as source:
                reader = pa.ipc.open_stream(source)
                for batch in reader:
                    for row in batch.to_pylist():
                        n += 1
                        yield f"{folder} row {n}", row
        except (OSError, pa.ArrowInvalid) as e:
            raise InputError(f"{file}: not a readable Arrow stream written by save_to_disk ({e})") from e
