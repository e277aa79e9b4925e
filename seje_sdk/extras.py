"""Which pip extra brings which modules, and the one-line refusal when a command needs a missing one.

Every console script is installed by every variant (`seje[cpu]` included), so a command that
needs an extra checks for it first and says which to add, instead of a traceback midway.
"""
from __future__ import annotations

import functools
import importlib.util
from typing import Any, Callable, Sequence

from seje_sdk.errors import MissingExtra

# Top-level modules of each extra in pyproject.toml [project.optional-dependencies].
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "train": ("torch", "torchvision", "transformers", "gensim", "sklearn", "networkx", "timm", "ijson", "yaml"),
    "export": ("onnx", "onnxscript"),
    "serve": ("fastapi", "uvicorn", "multipart", "prometheus_client"),
    "bench": ("matplotlib", "psutil", "threadpoolctl", "httpx"),
    "corpus": ("pyarrow", "ijson"),
    "faiss": ("faiss",),
    "ray": ("ray", "pyarrow", "ijson"),
}


def missing_modules(*extras: str) -> list[str]:
    """Modules of `extras` that cannot be imported here (found without importing them)."""
    names = dict.fromkeys(m for extra in extras for m in EXTRA_MODULES[extra])
    return [m for m in names if importlib.util.find_spec(m) is None]


def require_extra(what: str, *extras: str, modules: Sequence[str] | None = None) -> None:
    """Raise MissingExtra naming `extras` when a module they bring (or just `modules`) is missing.

    >>> require_extra("seje serve", "serve")   # doctest: +SKIP
    """
    if modules is None:
        missing = missing_modules(*extras)
    else:
        missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingExtra(what, ",".join(extras), missing)


def needs_extra(what: str, *extras: str, modules: Sequence[str] | None = None) -> Callable:
    """Click command decorator (under the options): MissingExtra (one line, exit 2 via seje_sdk.cli_errors) before the command runs."""
    def wrap(command: Callable) -> Callable:
        @functools.wraps(command)
        def run(*args: Any, **kwargs: Any) -> Any:
            require_extra(what, *extras, modules=modules)  # MissingExtra: the group's one line, exit 2
            return command(*args, **kwargs)
        return run
    return wrap
