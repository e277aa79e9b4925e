"""One source row -> one checked recipe for the importer, or the reasons it cannot be used.

Text fields accept a list of lines (strings, or Recipe1M's {"text": ...} items) or one text with a
line per item (a CSV cell may also hold a JSON list). Photos are paths (relative to the images
root, or absolute), Hugging Face image structs ({"bytes", "path"}) or raw bytes; every photo is
read once, hashed (sha256 of its bytes, for the duplicate rule) and checked with Pillow.
"""
from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seje_sdk.errors import InputError
from seje_sdk.recipe import field_lines

PARTITION_NAMES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
                   "dev": "val", "test": "test", "testing": "test"}
_IMAGE_SEPARATORS = re.compile(r"[;|\n]")


@dataclass
class Photo:
    """A usable photo: where its bytes are (a file, or the bytes themselves) and their sha256."""

    suffix: str
    sha256: str
    path: Path | None = None
    data: bytes | None = None


@dataclass
class ImportedRecipe:
    """A row that passed the checks, with its problems that did not disqualify it (missing photos...)."""

    id: str
    title: str
    ingredients: list[str]
    instructions: list[str]
    photos: list[Photo]
    category: str | None
    partition: str | None
    problems: list[tuple[str, str]] = field(default_factory=list)  # (kind, detail)

    def text_hash(self) -> str:
        """sha256 of the normalised recipe text: equal for rows that are exact text duplicates."""
        text = json.dumps([self.title.lower(), [s.lower() for s in self.ingredients],
                           [s.lower() for s in self.instructions]], ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def text_lines(value: Any) -> list[str] | None:
    """Lines of an ingredients/instructions field; None when the value has an unusable type.

    A CSV cell may hold a JSON list; otherwise the SDK's one validation layer reads the field.
    """
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value.strip())
        except json.JSONDecodeError:
            pass
    try:
        return list(field_lines(value, "field", split=str.splitlines))
    except InputError:
        return None


def photo_refs(value: Any) -> list[Any]:
    """The photo references of an images field: paths, HF image structs or bytes."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            try:
                return [v for v in json.loads(stripped) if v]
            except json.JSONDecodeError:
                pass
        return [s.strip() for s in _IMAGE_SEPARATORS.split(value) if s.strip()]
    if isinstance(value, (bytes, dict)):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v for v in value if v]
    return [value]


def load_photo(ref: Any, images_root: Path) -> tuple[Photo | None, str, str]:
    """(photo, kind, detail): the photo when usable, else a problem kind ("missing photo" | "unreadable photo")."""
    data, path = None, None
    if isinstance(ref, dict):  # Hugging Face Image feature: {"bytes": b"..." | None, "path": str | None}
        data, ref = ref.get("bytes"), ref.get("path")
    if isinstance(ref, (bytes, bytearray)):
        data, ref = bytes(ref), None
    if data is None:
        if not isinstance(ref, str) or not ref:
            return None, "unreadable photo", f"photo reference {str(ref)[:80]!r} is neither a path nor image bytes"
        path = Path(ref) if Path(ref).is_absolute() else images_root / ref
        if not path.is_file():
            return None, "missing photo", f"{path} does not exist"
        data = path.read_bytes()
    problem = _decode_problem(data)
    if problem:
        return None, "unreadable photo", f"{path or 'embedded image bytes'}: {problem}"
    suffix = path.suffix.lower() if path is not None and path.suffix else _suffix_of(data)
    return Photo(suffix, hashlib.sha256(data).hexdigest(), path, None if path is not None else data), "", ""


def _decode_problem(data: bytes) -> str | None:
    """None when Pillow identifies and verifies the image, else why not."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.verify()
        return None
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as e:
        return f"not a readable image ({type(e).__name__}: {e})"


def _suffix_of(data: bytes) -> str:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp"}.get(im.format, ".img")


def parse_row(row: dict, fallback_id: str, images_root: Path) -> tuple[ImportedRecipe | None, list[tuple[str, str]]]:
    """(recipe, problems): recipe is None when the row cannot be used at all (problems say why)."""
    if "__error__" in row:
        return None, [("malformed row", row["__error__"])]
    title = row.get("title")
    title = title.strip() if isinstance(title, str) else ""
    ingredients, instructions = text_lines(row.get("ingredients")), text_lines(row.get("instructions"))
    if ingredients is None or instructions is None:
        which = "ingredients" if ingredients is None else "instructions"
        return None, [("malformed row", f"'{which}' must be a list of lines or one text with a line per item")]
    if not title and not ingredients and not instructions:
        return None, [("empty text", "no title, ingredients or instructions")]
    if not title:
        return None, [("empty text", "no title (every recipe needs one)")]
    partition = row.get("partition")
    if partition not in (None, ""):
        if str(partition).strip().lower() not in PARTITION_NAMES:
            return None, [("bad partition", f"partition {partition!r} is not one of train/val/test (or empty)")]
        partition = PARTITION_NAMES[str(partition).strip().lower()]
    category = row.get("category")
    category = str(category).strip() if category not in (None, "") and str(category).strip() else None
    rid = row.get("id")
    rid = str(rid).strip() if rid not in (None, "") else fallback_id
    recipe = ImportedRecipe(rid, title, ingredients, instructions, [], category, partition or None)
    if not ingredients:
        recipe.problems.append(("empty text", "no ingredients (kept: title and instructions remain)"))
    if not instructions:
        recipe.problems.append(("empty text", "no instructions (kept: title and ingredients remain)"))
    for ref in photo_refs(row.get("images")):
        photo, kind, detail = load_photo(ref, images_root)
        if photo is None:
            recipe.problems.append((kind, detail))
        else:
            recipe.photos.append(photo)
    return recipe, recipe.problems
