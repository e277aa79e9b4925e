"""Phase 2 training config: one frozen dataclass, three presets, overrides from a file or the CLI.

`tiny` is for tests (seconds), `cpu` the default (the README's main job on 2 cores), `paper` the
published SEJE settings (batch 100, Adam 1e-4, fine-tuned CNN, 1024-d joint space).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from seje_sdk.errors import InputError
from trainer.features.config import read_config_file  # one YAML/JSON reader for both stages

PRESETS = ("tiny", "cpu", "paper")

# The plain-triplet baseline of the quality bar: no semantic features, no alignment losses.
BASELINE = {
    "use_term_feature": False,
    "use_category_feature": False,
    "category_loss": False,
    "discriminator_loss": False,
    "double_negatives": False,
}


@dataclass(frozen=True)
class TrainConfig:
    """Everything `run_fit` needs; saved as RUN_DIR/config.json."""

    preset: str = "cpu"
    seed: int = 0
    # model
    embed_dim: int = 1024
    instruction_dim: int = 1024  # hidden size of the LSTM over skip-instruction vectors
    term_dim: int = 1024  # width of the term-feature branch, Linear(300, term_dim)
    backbone: str | None = None  # None: the features' classifier backbone
    backbone_weights: str | None = None  # local .pth; else pretrained package weights when available
    image_size: int | None = None  # None: the features' image size
    freeze_backbone: bool = True  # True: pooled features cached once per image (CPU deviation)
    share_backbone: bool = False  # True: reuse the Phase 1 category classifier's backbone (one CNN)
    augment_views: int = 1  # augmented crops cached per training image, besides the centre crop
    max_images: int = 5  # training samples one of a recipe's first `max_images` images
    # ablations (SEJE components); `--baseline` switches all of them off
    use_term_feature: bool = True
    use_category_feature: bool = True
    category_loss: bool = True
    discriminator_loss: bool = True
    double_negatives: bool = True
    # losses
    triplet_gamma: float = 16.0
    triplet_margin: float = 0.0
    class_negative_weight: float = 1.0
    category_weight: float = 0.005
    align_weight: float = 0.005
    gp_weight: float = 10.0
    critic_lr: float = 1e-4
    # optimisation and schedule (paper: 3 validations without improvement -> 1e-5, stop 10 later)
    epochs: int = 30
    batch_size: int = 100
    lr: float = 1e-4
    lr_after_plateau: float = 1e-5
    plateau_patience: int = 3
    epochs_after_plateau: int = 10
    grad_clip: float = 10.0
    num_workers: int = 0
    # validation bags for model selection (R@1 + 0.8 R@5 + 0.6 R@10, image->recipe)
    val_bag_size: int = 1000
    val_bags: int = 10
    # testing aid: stop (as if interrupted) after this many epochs; resume continues
    stop_after_epoch: int | None = None

    def __post_init__(self) -> None:
        for name in ("batch_size", "epochs", "embed_dim", "instruction_dim", "term_dim", "max_images",
                     "val_bag_size", "val_bags", "plateau_patience"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise InputError(f"config: {name} must be a positive integer, got {value!r}")
        for name in ("lr", "lr_after_plateau", "critic_lr", "triplet_gamma"):
            if not getattr(self, name) > 0:
                raise InputError(f"config: {name} must be positive, got {getattr(self, name)!r}")
        if self.augment_views < 0 or self.epochs_after_plateau < 0:
            raise InputError("config: augment_views and epochs_after_plateau must be >= 0")
        if self.image_size is not None and self.image_size < 16:
            raise InputError(f"config: image_size must be >= 16 pixels, got {self.image_size}")
        if self.share_backbone and not self.freeze_backbone:
            raise InputError("config: share_backbone needs freeze_backbone (the classifier stays frozen)")
        if self.share_backbone and (self.backbone or self.backbone_weights):
            raise InputError("config: share_backbone uses the classifier's backbone; drop backbone/backbone_weights")
        if self.preset not in PRESETS:
            raise InputError(f"config: preset must be one of {PRESETS}, got {self.preset!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def is_baseline(self) -> bool:
        return all(getattr(self, k) == v for k, v in BASELINE.items())


_PRESETS: dict[str, dict[str, Any]] = {
    # Seconds on 2 cores: small heads, a few epochs, tiny validation.
    "tiny": dict(share_backbone=True, embed_dim=64, instruction_dim=64, term_dim=64, epochs=8, batch_size=16,
                 lr=3e-3, augment_views=0, plateau_patience=8, epochs_after_plateau=1, val_bag_size=50, val_bags=2),
    # The README's main job: frozen cached backbone (shared with the Phase 1 classifier), heads
    # trained fast; lr 5x the paper's because the dataset is ~1000x smaller and the run has
    # minutes, not days; a 256-d instruction LSTM (paper 1024) because it dominates step time.
    "cpu": dict(share_backbone=True, instruction_dim=256, term_dim=1024, epochs=20, batch_size=100, lr=5e-4,
                lr_after_plateau=5e-5, augment_views=0, plateau_patience=3, epochs_after_plateau=3, val_bags=5),
    # SEJE's published settings: the CNN is fine-tuned end to end.
    "paper": dict(epochs=720, batch_size=100, lr=1e-4, freeze_backbone=False, augment_views=0,
                  backbone="resnet50"),
}


def field_names() -> list[str]:
    return [f.name for f in fields(TrainConfig)]


def _coerce(overrides: dict[str, Any], where: str) -> dict[str, Any]:
    """Refuse unknown keys and values of the wrong type (YAML reads `1e-4` as a string!) by name."""
    known = set(field_names())
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise InputError(f"{where}: unknown config key(s) {unknown}; valid keys: {', '.join(sorted(known))}")
    defaults, out = TrainConfig(), {}
    for key, value in overrides.items():
        default = getattr(defaults, key)
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if default is not None and value is not None and type(value) is not type(default):
            raise InputError(f"{where}: {key} must be {type(default).__name__}, got {value!r}")
        out[key] = value
    return out


def resolve_config(preset: str = "cpu", config_file: str | Path | None = None,
                   overrides: dict[str, Any] | None = None, baseline: bool = False) -> TrainConfig:
    """Preset, then the file, then the baseline switches, then explicit overrides (CLI) win."""
    if preset not in PRESETS:
        raise InputError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    values: dict[str, Any] = {"preset": preset, **_PRESETS[preset]}
    if config_file is not None:
        values.update(_coerce(read_config_file(config_file), f"config file {config_file}"))
    if baseline:
        values.update(BASELINE)
    values.update(_coerce({k: v for k, v in (overrides or {}).items()}, "overrides"))
    return TrainConfig(**values)


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Rebuild a saved config (RUN_DIR/config.json); keys that are not config fields are ignored."""
    known = set(field_names())
    return TrainConfig(**{k: v for k, v in data.items() if k in known})
