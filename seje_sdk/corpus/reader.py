"""Corpus sources -> items in fixed-size shards, in a deterministic order.

A source is a Recipe1M folder (layer1.json recipes, or with modality="image" the photos listed in
layer2.json), an image folder (files sorted by path), or a JSON Lines / parquet / JSON list of
recipes or of image paths. Every item is (position, id, payload, label): the payload is the
recipe as JSON text or the image path, the label the recipe title or the path. An item the reader
cannot use (bad JSON line, duplicate id, missing image file) is yielded with `bad` set, so that the
shard's report lists it instead of it vanishing. `read_recipes` and `image_files` read the small
inputs of `seje embed`, `seje index build` and `seje search` (a recipe file, image files or folders).

Example:
    >>> src = open_source("runs/demo/data")                    # doctest: +SKIP
    >>> next(iter_shards(src, 1000))[1][0].id                  # doctest: +SKIP
    'f8d5283cf0'
"""
from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from seje_sdk.catalog import plain_file_name
from seje_sdk.errors import InputError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
RECIPE_SUFFIXES = {".json", ".jsonl"}
MODALITIES = ("recipe", "image")


@dataclass(frozen=True)
class Item:
    """One corpus item; `bad` names why it cannot be embedded (then it is reported, not embedded)."""

    position: int
    id: str
    payload: str
    label: str
    bad: str = ""


@dataclass(frozen=True)
class Source:
    """A resolved corpus source: where, what kind of container, and which modality it holds."""

    path: str
    kind: str  # recipe1m | images | jsonl | parquet | json
    modality: str  # recipe | image
    count: int | None  # number of items when cheap to know (progress bar's time left)

    def describe(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "modality": self.modality}


def open_source(path: str | os.PathLike, modality: str | None = None) -> Source:
    """Recognise a source and its modality, failing early (InputError) on anything unusable."""
    p = Path(path).resolve()
    if modality not in (None, *MODALITIES):
        raise InputError(f"modality must be recipe or image, got {modality!r}")
    if not p.exists():
        raise InputError(f"{path}: no such file or folder")
    if p.is_dir():
        if (p / "layer1.json").is_file():
            if modality == "image" and not (p / "layer2.json").is_file():
                raise InputError(f"{path}: a Recipe1M folder needs layer2.json to list its images")
            return Source(str(p), "recipe1m", modality or "recipe", _count_recipe1m(p, modality or "recipe"))
        if modality == "recipe":
            raise InputError(f"{path}: a folder without layer1.json holds images, not recipes")
        return Source(str(p), "images", "image", len(image_files([p])))
    suffix = p.suffix.lower()
    if suffix == ".jsonl":
        return Source(str(p), "jsonl", modality or _guess_modality(_first_jsonl(p), path), _count_lines(p))
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(p)
        first = meta.read_row_group(0).slice(0, 1).to_pylist()[:1] if meta.num_row_groups else []
        return Source(str(p), "parquet", modality or _guess_modality(first[0] if first else {}, path), meta.metadata.num_rows)
    if suffix == ".json":
        return Source(str(p), "json", modality or "recipe", None)
    raise InputError(f"{path}: unknown source; give a Recipe1M folder, an image folder, or a .jsonl/.parquet/.json list")


def iter_items(source: Source) -> Iterator[Item]:
    """Every item of the source in its fixed order, duplicates of an earlier id marked bad."""
    seen: dict[str, int] = {}
    for item in _raw_items(source):
        first = seen.setdefault(item.id, item.position)
        if first != item.position and not item.bad:
            item = Item(item.position, item.id, item.payload, item.label, f"duplicate id {item.id!r} (first at position {first})")
        yield item


def iter_shards(source: Source, shard_size: int) -> Iterator[tuple[int, list[Item]]]:
    """(shard number, items) in order; every shard holds `shard_size` items except perhaps the last."""
    if shard_size < 1:
        raise InputError(f"shard size must be a positive int, got {shard_size}")
    it = iter_items(source)
    for number in itertools.count():
        chunk = list(itertools.islice(it, shard_size))
        if not chunk:
            return
        yield number, chunk


def _raw_items(source: Source) -> Iterator[Item]:
    p = Path(source.path)
    if source.kind == "recipe1m":
        yield from (_recipe1m_images(p) if source.modality == "image" else _records(_json_list(p / "layer1.json"), "recipe", p))
    elif source.kind == "images":
        for pos, f in enumerate(image_files([p])):
            yield Item(pos, f.relative_to(p).as_posix(), str(f), str(f))
    elif source.kind == "jsonl":
        yield from _records(_jsonl(p), source.modality, p.parent)
    elif source.kind == "parquet":
        yield from _records(_parquet(p), source.modality, p.parent)
    else:
        yield from _records(_json_list(p), source.modality, p.parent)


def _records(rows: Iterator[Any], modality: str, base: Path) -> Iterator[Item]:
    """Items from dict rows (a recipe, or {"path": ..., "id": ...} for an image); a row that is an error string is bad."""
    for pos, row in enumerate(rows):
        if isinstance(row, Exception):
            yield Item(pos, str(pos), "", "", str(row))
        elif not isinstance(row, dict):
            yield Item(pos, str(pos), "", "", f"expected a JSON object, got {type(row).__name__}")
        elif modality == "recipe":
            rid = str(row.get("id", pos))
            bad = _recipe_problem(row, pos)
            title = row.get("title") if isinstance(row.get("title"), str) else ""
            yield Item(pos, rid, "" if bad else json.dumps(row, ensure_ascii=False), title, bad)
        else:
            raw = row.get("path", row.get("image"))
            if not isinstance(raw, str) or not raw:
                yield Item(pos, str(row.get("id", pos)), "", "", "no 'path' field naming the image file")
                continue
            path = (base / raw).resolve() if not os.path.isabs(raw) else Path(raw)
            yield Item(pos, str(row.get("id", raw)), str(path), str(path), "" if path.is_file() else f"image file not found: {path}")


def _recipe_problem(row: dict, pos: int) -> str:
    """Why a recipe row cannot be embedded (the SDK's field checks, run before any shard work), or ""."""
    from seje_sdk.recipe import parse_recipes

    try:
        parse_recipes([row], start=pos)
    except InputError as e:
        return str(e)
    return ""


def _recipe1m_images(folder: Path) -> Iterator[Item]:
    """Photos listed in layer2.json (file order), at images/<partition>/<c0>/<c1>/<c2>/<c3>/<image id>."""
    partition = {str(r.get("id")): r.get("partition", "") for r in _json_list(folder / "layer1.json") if isinstance(r, dict)}
    pos = 0
    for entry in _json_list(folder / "layer2.json"):
        rid = str(entry.get("id")) if isinstance(entry, dict) else "?"
        for im in (entry.get("images") or []) if isinstance(entry, dict) else []:
            image_id = str(im.get("id", "")) if isinstance(im, dict) else ""
            part = partition.get(rid)
            path = folder / "images" / (part or "?") / Path(*image_id[:4]) / image_id
            bad = ("recipe id not in layer1.json" if part is None else
                   f"image id {image_id!r} is not a plain file name inside {folder / 'images'}; refusing it"
                   if not plain_file_name(image_id) else
                   "" if path.is_file() else f"image file not found: {path}")
            yield Item(pos, image_id or str(pos), str(path), str(path), bad)
            pos += 1


def _json_list(path: Path) -> Iterator[Any]:
    """Records of a top-level JSON list, streamed with ijson when installed (a 1.3 GB layer1.json stays out of RAM)."""
    try:
        import ijson
    except ImportError:
        ijson = None
    try:
        with open(path, "rb") as f:
            if ijson is None:
                yield from json.load(f)
            else:
                yield from ijson.items(f, "item", use_float=True)
    except (ValueError, OSError) as e:  # ijson.JSONError and json.JSONDecodeError are ValueErrors
        raise InputError(f"{path}: not a readable JSON list ({e})") from e


def _jsonl(path: Path) -> Iterator[Any]:
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(line for line in f if line.strip()):
            try:
                yield json.loads(line)
            except json.JSONDecodeError as e:
                yield InputError(f"{path.name} record {n}: bad JSON ({e})")


def _parquet(path: Path) -> Iterator[Any]:
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches(batch_size=4096):
        yield from batch.to_pylist()


def read_recipes(path: str | Path) -> list[dict]:
    """Recipes from a Recipe1M layer1.json (a list), a JSON Lines file, or a JSON file holding one recipe."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not valid UTF-8 ({e})") from e
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from e
    try:
        if path.suffix == ".jsonl":
            items = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            items = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON ({e})") from e
    items = [items] if isinstance(items, dict) else items
    if not isinstance(items, list) or not all(isinstance(x, dict) for x in items):
        raise InputError(f"{path}: expected a recipe object, a list of them, or JSON Lines of them")
    return items


def image_files(paths: Sequence[str | os.PathLike], with_roots: bool = False):
    """Image files given directly or found (recursively, sorted) in folders; with_roots: also the folder each came from.

    A file that resolves (through a symlink) outside the folder it was found in is refused, naming it.
    """
    out, roots = [], []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
            for f in found:
                if not f.resolve().is_relative_to(p.resolve()):
                    raise InputError(f"--images {p}: {f} resolves to {f.resolve()}, outside {p}; refusing to index it")
        else:
            found = [p]
        out += found
        roots += [p] * len(found)
    return (out, roots) if with_roots else out


def _first_jsonl(path: Path) -> Any:
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.strip():
                try:
                    return json.loads(line)
                except json.JSONDecodeError:
                    return {}
    raise InputError(f"{path}: empty JSON Lines file")


def _guess_modality(row: Any, path: Any) -> str:
    """A row naming a file ("path"/"image") and no recipe text is an image list; anything else holds recipes."""
    if isinstance(row, dict) and ("path" in row or "image" in row) and not ("instructions" in row or "ingredients" in row):
        return "image"
    return "recipe"


def _count_recipe1m(folder: Path, modality: str) -> int:
    """Recipes in layer1.json, or photos in layer2.json: one streaming pass (~20 s for the real 1.3 GB layer1),
    small beside embedding them, and it gives the progress bar its time left."""
    if modality == "recipe":
        return sum(1 for _ in _json_list(folder / "layer1.json"))
    return sum(len(e.get("images") or []) for e in _json_list(folder / "layer2.json") if isinstance(e, dict))


def _count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(1 for line in f if line.strip())
