"""What each indexed id is, for people: a recipe's title, an image's owner recipe and its file.

An index folder stores vectors and ids; `catalog.jsonl` beside its manifest says what each id
shows, so `seje search`, the service and its page can print titles and thumbnails. A recipe's
row may carry the path of one of its photos (found through a Recipe1M layer2.json), so recipe
hits get thumbnails too; a photo's row carries the title and id of the recipe it belongs to.

Paths stay on the server: the first line records the data root (`{"root": ...}`), rows hold
paths relative to it, and `read_catalog` drops any path that resolves outside that root. Ids
are never paths: an indexed photo's id is its file name (its path under the --images folder
when two files share a name). A Recipe1M layer2 image id that is not a plain file name (`../`,
an absolute path) is refused when the index is built.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

from seje_sdk.errors import InputError
from seje_sdk.io import atomic_file

CATALOG_FILE = "catalog.jsonl"


def catalog_entry(item_id: Any, modality: str, title: str | None = None, path: str | None = None,
                  recipe_id: Any = None) -> dict[str, Any]:
    """One catalog row: id, modality ('recipe' or 'image'), and the title, path and owner recipe when known."""
    row: dict[str, Any] = {"id": item_id, "modality": modality}
    if title is not None:
        row["title"] = str(title)
    if path is not None:
        row["path"] = str(path)
    if recipe_id is not None:
        row["recipe_id"] = recipe_id
    return row


def write_catalog(folder: str | os.PathLike, rows: Iterable[dict[str, Any]], root: str | os.PathLike | None = None) -> Path:
    """Write rows (see `catalog_entry`) as `folder/catalog.jsonl`, atomically; with `root`, paths are stored relative to it."""
    path = Path(folder) / CATALOG_FILE
    base = Path(root).resolve() if root is not None else None
    with atomic_file(path, "w") as f:
        if base is not None:
            f.write(json.dumps({"root": str(base)}, ensure_ascii=False) + "\n")
        for row in rows:
            if base is not None and row.get("path"):
                row = dict(row, path=Path(row["path"]).resolve().relative_to(base).as_posix())
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def read_catalog(folder: str | os.PathLike) -> dict[tuple[str, str], dict[str, Any]]:
    """{(modality, str(id)): row} from `folder/catalog.jsonl` (empty without one); row paths absolute, inside the root.

    The root is the one the file records, else (older catalogs) the common folder of its paths.
    """
    path = Path(folder) / CATALOG_FILE
    if not path.is_file():
        return {}
    out: dict[tuple[str, str], dict[str, Any]] = {}
    root: Path | None = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                if "modality" not in row:
                    root = Path(row["root"]) if "root" in row else root
                    continue
                out[(row["modality"], str(row["id"]))] = row
    paths = [row["path"] for row in out.values() if row.get("path")]
    if root is None and paths:
        root = Path(os.path.commonpath([str(Path(p).resolve().parent) for p in paths]))
    for row in out.values():
        if row.get("path"):
            inside = under_root(root / row["path"], root)
            row.pop("path") if inside is None else row.update(path=str(inside))
    return out


def catalog_root(folder: str | os.PathLike) -> str | None:
    """The data root recorded on the first line of `folder/catalog.jsonl` (None when absent)."""
    path = Path(folder) / CATALOG_FILE
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as f:
        first = json.loads(f.readline() or "{}")
    return first.get("root") if "modality" not in first else None


def under_root(path: str | os.PathLike, root: str | os.PathLike) -> Path | None:
    """`path` resolved (symlinks followed) when it lies inside `root`, else None."""
    resolved, base = Path(path).resolve(), Path(root).resolve()
    return resolved if resolved.is_relative_to(base) else None


def plain_file_name(name: str) -> bool:
    """A layer2 image id must be a file name: no folder part, no `..`, not absolute (else it could name any file)."""
    return bool(name) and name not in (".", "..") and Path(name).name == name and "\\" not in name


def layer2_rows(data: Path) -> list[dict]:
    """The rows of `data/layer2.json` ([] without one), each image id checked to be a plain file name."""
    layer2 = data / "layer2.json"
    if not layer2.is_file():
        return []
    rows = json.loads(layer2.read_text(encoding="utf-8"))
    for row in rows:
        for image in row.get("images", []):
            name = str(image.get("id", ""))
            if not plain_file_name(name):
                raise InputError(f"{layer2}: recipe {row.get('id')!r} names image {name!r}, which is not a plain file "
                                 f"name inside {data / 'images'}; refusing to index it (fix or remove that entry)")
    return rows


def recipe_photos(layer1: str | os.PathLike, recipes: Sequence[dict]) -> dict[str, str]:
    """{recipe id: absolute path of its first photo} from a layer2.json beside `layer1` (Recipe1M layout); {} without one.

    Photos live at images/<partition>/<c0>/<c1>/<c2>/<c3>/<image id>; only files that exist (inside images/) are listed.
    """
    data = Path(layer1).resolve().parent
    partitions = {str(r.get("id")): r.get("partition") for r in recipes}
    out: dict[str, str] = {}
    for row in layer2_rows(data):
        rid = str(row.get("id"))
        if partitions.get(rid) is None:
            continue
        for image in row.get("images", []):
            path = data / "images" / str(partitions[rid]) / Path(*image["id"][:4]) / image["id"]
            if under_root(path, data / "images") is None:
                raise InputError(f"{data / 'layer2.json'}: recipe {rid!r}, image {image['id']!r} resolves outside "
                                 f"{data / 'images'}; refusing to index it")
            if path.is_file():
                out[rid] = str(path)
                break
    return out


def photo_owners(images_root: Path, depth: int = 3) -> tuple[dict[str, str], dict[str, str]]:
    """({photo file name: recipe id}, {recipe id: title}) from the Recipe1M layer2/layer1.json found in `images_root`
    or up to `depth` folders above it; two empty dicts without a layer2.json there."""
    for data in [images_root.resolve(), *images_root.resolve().parents][: depth + 1]:
        rows = layer2_rows(data)
        if rows:
            owners = {image["id"]: str(row["id"]) for row in rows for image in row.get("images", [])}
            layer1 = data / "layer1.json"
            recipes = json.loads(layer1.read_text(encoding="utf-8")) if layer1.is_file() else []
            return owners, {str(r.get("id")): r.get("title") for r in recipes if isinstance(r, dict)}
    return {}, {}


def recipe_rows(recipes: Sequence[dict], ids: Sequence[Any], photos: dict[str, str]) -> list[dict[str, Any]]:
    """Catalog rows for indexed recipes: the title, and a photo path where `photos` has one."""
    return [catalog_entry(i, "recipe", title=rec.get("title"), path=photos.get(str(i))) for rec, i in zip(recipes, ids)]


def image_ids(files: Sequence[Path], roots: Sequence[Path]) -> list[str]:
    """An id per image file: its file name, or its path under its --images root (posix) where names repeat.

    `roots[i]` is the folder (or the file itself) that `files[i]` was found under.
    """
    names = [f.name for f in files]
    repeated = {n for n in names if names.count(n) > 1} if len(set(names)) < len(names) else set()
    out = []
    for f, root in zip(files, roots):
        base = root if root.is_dir() else root.parent
        out.append(f.resolve().relative_to(base.resolve()).as_posix() if f.name in repeated else f.name)
    return out


def image_rows(paths: Sequence[Any], ids: Sequence[Any], owners: dict[str, str] | None = None,
               titles: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Catalog rows for indexed image files: the path (served as the thumbnail), the owner recipe and its title."""
    owners, titles = owners or {}, titles or {}
    rows = []
    for p, i in zip(paths, ids):
        owner = owners.get(Path(p).name)
        rows.append(catalog_entry(i, "image", title=titles.get(owner) if owner else None, path=str(Path(p).resolve()),
                                  recipe_id=owner))
    return rows


def hit_title(catalog: dict, modality: str, item_id: Any) -> str | None:
    """What a hit shows people: its title (a photo's: its recipe's); None when the catalog does not know one."""
    row = catalog.get((modality, str(item_id)))
    return None if row is None else row.get("title")
