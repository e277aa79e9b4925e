"""classes1M.pkl: Recipe1M's semantic category labels (im2recipe), read and written.

The file is two consecutive pickles: `{recipe_id: class_id}` then `{class_id: name}`, with
class 0 = "background" (recipes whose title matched no category). im2recipe derives the
classes from frequent title bigrams and Food-101 names; `class_of_title` is that matching rule.

A dataset is often downloaded from a mirror, so the file is data, never a program: it is read
with an unpickler that builds only dicts, lists, tuples, str, int and float (pickle's own
opcodes) and refuses every global, the only door through which a pickle runs code.
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any

from seje_sdk.errors import DataError
from seje_sdk.io import atomic_file

BACKGROUND = "background"


class NamesAnObject(pickle.UnpicklingError):
    """The pickle asks for a Python object (class or function): the only way a pickle runs code."""


class PlainUnpickler(pickle.Unpickler):
    """Builds builtin containers and scalars only: any global (class, function) is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise NamesAnObject(f"it names the Python object {module}.{name}")


def read_classes(path: str | os.PathLike) -> tuple[dict[str, int], dict[int, str]]:
    """Load (class_of: recipe_id -> class_id, names: class_id -> name) from classes1M.pkl.

    Only plain values are unpickled: a file that names any Python object is refused unrun.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: classes file not found (expected Recipe1M's classes1M.pkl)")
    try:
        with open(path, "rb") as f:
            class_of = PlainUnpickler(f, encoding="latin1").load()  # latin1: Python 2 pickles decode too
            names = PlainUnpickler(f, encoding="latin1").load()
    except NamesAnObject as e:
        raise DataError(f"{path}: not a plain classes file ({e}); classes1M.pkl holds only dicts of ids, "
                        "class numbers and names, so this file was not read") from e
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError, TypeError, IndexError, KeyError,
            MemoryError) as e:
        raise DataError(
            f"{path}: not a classes1M.pkl (two pickles: {{recipe_id: class_id}} then "
            f"{{class_id: name}}): {type(e).__name__}: {e}"
        ) from e
    if isinstance(names, (list, tuple)):  # some re-releases store the names as a list
        names = dict(enumerate(names))
    if not isinstance(class_of, dict) or not isinstance(names, dict):
        raise DataError(f"{path}: expected two dicts, got {type(class_of).__name__} and {type(names).__name__}")
    _check_plain(path, class_of, names)
    unknown = {c for c in class_of.values() if c not in names}
    if unknown:
        raise DataError(f"{path}: class ids {sorted(unknown)[:5]} are used by recipes but have no name")
    if names.get(0) != BACKGROUND:
        raise DataError(f"{path}: class 0 must be {BACKGROUND!r}, found {names.get(0)!r}")
    return {_text(k): int(v) for k, v in class_of.items()}, {int(k): _text(v) for k, v in names.items()}


def _text(value: str | bytes) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _check_plain(path: Path, class_of: dict, names: dict) -> None:
    """Recipe ids are text and class ids integers; names are text: anything else is refused by name."""
    for key, value in class_of.items():
        if not isinstance(key, (str, bytes)) or not isinstance(value, int):
            raise DataError(f"{path}: recipe {key!r} -> {value!r}: expected text id -> integer class")
    for key, value in names.items():
        if not isinstance(key, int) or not isinstance(value, (str, bytes)):
            raise DataError(f"{path}: class {key!r} -> {value!r}: expected integer class -> text name")


def write_classes(path: str | os.PathLike, class_of: dict[str, int], names: dict[int, str]) -> None:
    """Write classes1M.pkl atomically, in Recipe1M's two-pickle layout."""
    if names.get(0) != BACKGROUND:
        raise DataError(f"{path}: class 0 must be {BACKGROUND!r}, got {names.get(0)!r}")
    unknown = {c for c in class_of.values() if c not in names}
    if unknown:
        raise DataError(f"{path}: class ids {sorted(unknown)[:5]} have no name")
    plain_of = {str(k): int(v) for k, v in class_of.items()}  # exactly the types read_classes admits
    plain_names = {int(k): str(v) for k, v in names.items()}
    with atomic_file(path, "wb") as f:
        # protocol 4 is readable by every Python 3 since 3.4 and is byte-stable for these types
        pickle.dump(plain_of, f, protocol=4)
        pickle.dump(plain_names, f, protocol=4)


def class_of_title(title: str, names: dict[int, str]) -> int:
    """im2recipe's rule: the class whose name occurs (as whole words) in the title, longest first; else 0."""
    text = " ".join(re.findall(r"[a-z0-9]+", title.lower()))
    best, best_len = 0, 0
    for cid, name in names.items():
        if cid == 0:
            continue
        phrase = " ".join(re.findall(r"[a-z0-9]+", name.lower()))
        if len(phrase) > best_len and re.search(rf"\b{re.escape(phrase)}\b", text):
            best, best_len = cid, len(phrase)
    return best
