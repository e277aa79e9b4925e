"""Checkpoints and caches (.pt) are data: read with torch's `weights_only` rule, never run.

A run folder may come from a colleague or a mirror. Everything seje saves in it is tensors and
plain Python values (dicts, lists, numbers, strings; configs as plain dicts), which
`torch.load(weights_only=True)` reads and which cannot name a Python callable. A file that needs
anything more is refused with the one command that rewrites it, `seje-train convert RUN
--trust-pickles`, which the user runs only for a folder they trust.
"""
from __future__ import annotations

import dataclasses
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seje_sdk.errors import DataError
from seje_sdk.io import atomic_file

RUN_FILES = ("checkpoints/*.pt", "cache/*.pt")


def convert_command(run_dir: Path) -> str:
    return f"seje-train convert {run_dir} --trust-pickles"


def load_plain(path: Path, map_location: Any = "cpu", fix: str | None = None) -> Any:
    """torch.load under the weights-only rule; DataError naming the file and `fix` when it needs more."""
    path = Path(path)
    fix = fix or (f"if you trust this run folder, rewrite it as plain data with `{convert_command(path.parent.parent)}`"
                  if path.parent.name in ("checkpoints", "cache") else "rebuild it with the seje command that wrote it")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        reason = _reason(str(e))
        raise DataError(f"{path}: not plain tensors and values, so it was not loaded ({reason}, which could "
                        f"run code); {fix}") from e
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise DataError(f"{path}: not a readable torch file ({_reason(str(e))}); {fix}") from e


def _reason(message: str) -> str:
    """The part of torch's weights-only message that names what the file asked for (not its allowlist advice)."""
    named = re.search(r"Unsupported global: GLOBAL (\S+)", message)
    if named:
        return f"it names the Python object {named.group(1)}"
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return lines[0][:200] if lines else "unknown reason"


def to_plain(value: Any, where: str = "") -> Any:
    """`value` with numpy arrays as tensors, numpy scalars as Python numbers, paths as str, dataclasses as dicts."""
    if isinstance(value, np.generic):  # before float: numpy's float64 is a float subclass, yet not plain
        return value.item()
    if isinstance(value, torch.Tensor) or value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {to_plain(k, where): to_plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [to_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    raise DataError(f"{where or 'value'}: a {type(value).__module__}.{type(value).__qualname__} has no plain form")


def convert_run(run_dir: str | Path, trust_pickles: bool = False) -> list[Path]:
    """Rewrite a run folder's .pt files that need pickle as plain data; returns the files rewritten.

    Files that already load under the weights-only rule are left as they are. Unpickling the
    others runs whatever they contain, so it needs `trust_pickles=True`, the user's word.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise DataError(f"{run_dir}: not a run folder (no config.json)")
    todo = []
    for path in sorted(p for pattern in RUN_FILES for p in run_dir.glob(pattern)):
        try:
            load_plain(path)
        except DataError:
            todo.append(path)
    if todo and not trust_pickles:
        names = ", ".join(str(p.relative_to(run_dir)) for p in todo)
        raise DataError(f"{run_dir}: {names} need pickle, which runs any code the file holds; pass --trust-pickles "
                        "only if you trust where this folder came from")
    for path in todo:
        state = to_plain(torch.load(path, map_location="cpu", weights_only=False), path.name)  # the user vouched
        with atomic_file(path) as f:
            torch.save(state, f)
        load_plain(path)  # the rewritten file must pass the rule it was rewritten for
    return todo
