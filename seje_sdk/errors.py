"""One exception hierarchy for everything seje raises on purpose.

Messages name the input (file, batch position, id) and say what to do.
"""
from __future__ import annotations

from typing import Sequence


class SejeError(Exception):
    """Base class: any error seje raises deliberately. A command line exits with `exit_code` (seje_sdk.cli_errors)."""

    exit_code = 2  # bad usage or input; a subclass may say otherwise


class InputError(SejeError, ValueError):
    """A user-supplied input (image, recipe, option) is unusable."""


class BundleError(SejeError):
    """An exported bundle is missing, tampered with, or from another version."""


class IndexMismatchError(SejeError):
    """An index was built with another bundle, or its files are inconsistent."""


class BackendError(SejeError, RuntimeError):
    """The requested inference backend (CUDA, TensorRT, ...) cannot run here."""


class DataError(SejeError):
    """A dataset file or record is malformed (names the file and the record)."""


def tell_apart(a: str, b: str, least: int = 12) -> tuple[str, str]:
    """Prefixes of two hex digests long enough to differ (at least `least` characters), for messages."""
    n = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    n = max(least, n + 4)
    return (a[:n] + ("..." if n < len(a) else ""), b[:n] + ("..." if n < len(b) else ""))


class MissingExtra(SejeError, ImportError):
    """A command needs an optional part of seje that is not installed: names the pip extra to add."""

    def __init__(self, what: str, extra: str, missing: Sequence[str] = ()) -> None:
        noun = "extras" if "," in extra else "extra"
        detail = f" (missing: {', '.join(missing)})" if missing else ""
        super().__init__(f"{what} needs the {extra} {noun}: pip install 'seje[{extra}]'{detail}")
        self.extra = extra
