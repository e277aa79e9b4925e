"""Save and load the small feature-stage modules (sentence encoder, tagger) as {"config", "state_dict"}."""
from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import torch
from torch import nn

from seje_sdk.errors import DataError
from seje_sdk.io import atomic_file
from trainer.checkpoints import load_plain

M = TypeVar("M", bound=nn.Module)


def save_module(module: nn.Module, path: Path) -> None:
    """Write {"config": module.config, "state_dict": ...} atomically."""
    with atomic_file(path) as f:
        torch.save({"config": module.config, "state_dict": module.state_dict()}, f)


def load_module(cls: type[M], path: Path) -> M:
    """Rebuild `cls(**config)` from a file written by save_module, in eval mode."""
    if not path.is_file():
        raise DataError(f"{path} is missing; build FEATURES_DIR with `seje-train features --data DATA_DIR --out FEATURES_DIR`")
    blob = load_plain(path, fix="rebuild FEATURES_DIR with `seje-train features --data DATA_DIR --out FEATURES_DIR`")
    module = cls(**blob["config"])
    module.load_state_dict(blob["state_dict"])
    return module.eval()
