"""Phase 2 training config: one frozen dataclass, three presets, overrides from a file or the CLI.

The defaults follow the authors' release (git-disl/SEJE: train.py, args.py, triplet_loss.py,
trijoint.py); every place seje differs is a field below, listed in DEVIATIONS with its reason.
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

PRESETS = ("tiny", "cpu", "small", "paper")
# Below this many training pairs `fit --preset cpu` prints a hint to use `--preset small`
# (measured better at 300 and 1,000 embedded recipes; docs/small-collections.md).
SMALL_COLLECTION_PAIRS = 1500
ADVERSARIAL_SIDES = ("recipe", "both")
AUGMENTATIONS = ("release", "resized_crop")
CATEGORY_FEATURES = ("top1", "soft")

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
    # release: random crop of the 256/224-resized centre square + flip; "resized_crop": scale 0.5-1 + flip
    augmentation: str = "release"
    # ablations (SEJE components); `--baseline` switches all of them off
    use_term_feature: bool = True
    use_category_feature: bool = True
    # The image category feature: "soft" (softmax(logits / category_temperature) @ category vectors;
    # not in SEJE) or "top1" (SEJE: the Word2vec vector of the classifier's top class). Soft by
    # default: under int8, 1.0% of test images moved below cosine 0.95 against top1's 4.3%, with
    # retrieval tied (5 seeds each, benchmarks/results/category_feature.md).
    category_feature: str = "soft"
    category_temperature: float = 1.0
    category_loss: bool = True
    discriminator_loss: bool = True
    # The paper's instance-class double negatives; the release mines instance negatives only.
    double_negatives: bool = True
    # Skip-instruction vectors whitened with training statistics before the instruction LSTM
    # (seje's fix for their near-constant values; the release feeds them raw).
    whiten_sentences: bool = True
    # Field dropout: the probability that a training recipe loses one or two of its fields (title,
    # ingredients, instructions) for a step, so that partial recipes and typed titles are queries the
    # encoder has seen (trainer/field_dropout.py; not in SEJE). Off by default: 0.3 cost 6 full-recipe
    # R@1 points on the embedded data (19.6 -> 13.6, one seed; docs/free-text.md).
    field_dropout: float = 0.0
    # Typed-text queries: after the fit, a text query encoder (trainer/query_encoder.py) is trained
    # against the frozen model's image embeddings and saved as RUN_DIR/text_encoder.pt; the recipe
    # and image encoders are untouched (not in SEJE; docs/free-text.md).
    text_encoder: bool = True
    text_encoder_epochs: int = 40
    # losses
    triplet_gamma: float = 16.0  # release: SoftMarginLoss(gama * (d_ap - d_an + margin)), gama 16
    triplet_margin: float = 0.0
    class_negative_weight: float = 1.0
    category_weight: float = 0.005  # release: 0.005 * CE(image) + 0.005 * CE(recipe), one shared head
    align_weight: float = 0.005  # release: 0.005 * generator loss
    # release: images are the real side and the generator loss reaches only the recipe encoder;
    # "both": the negated Wasserstein estimate moves both encoders (seje's earlier variant)
    adversarial_side: str = "recipe"
    gp_weight: float = 10.0
    critic_lr: float = 1e-4  # release: Adam(lr, betas 0.5/0.999), dropped with the encoders' lr
    # optimisation and schedule (release: 3 validations without improvement -> lr 1e-5, then stop
    # after 10 consecutive validations without improvement; at most 500 epochs)
    epochs: int = 500
    batch_size: int = 100
    lr: float = 1e-4
    lr_after_plateau: float = 1e-5
    plateau_patience: int = 3
    stop_patience: int = 10
    grad_clip: float | None = None  # release: no clipping
    bf16: bool = False  # release: fp32; True runs the forward pass under bf16 autocast on GPU
    num_workers: int = 0
    # validation bags for model selection (R@1 + 0.8 R@5 + 0.6 R@10, image->recipe; release: 10
    # bags of 1000 drawn with the run's seed 1234 at every validation)
    val_bag_size: int = 1000
    val_bags: int = 10
    val_seed: int = 1234
    # testing aid: stop (as if interrupted) after this many epochs; resume continues
    stop_after_epoch: int | None = None

    def __post_init__(self) -> None:
        for name in ("batch_size", "epochs", "embed_dim", "instruction_dim", "term_dim", "max_images",
                     "val_bag_size", "val_bags", "plateau_patience", "stop_patience", "text_encoder_epochs"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise InputError(f"config: {name} must be a positive integer, got {value!r}")
        for name in ("lr", "lr_after_plateau", "critic_lr", "triplet_gamma"):
            if not getattr(self, name) > 0:
                raise InputError(f"config: {name} must be positive, got {getattr(self, name)!r}")
        if not 0.0 <= self.field_dropout < 1.0:
            raise InputError(f"config: field_dropout must be in [0, 1), got {self.field_dropout!r}")
        if self.augment_views < 0:
            raise InputError("config: augment_views must be >= 0")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise InputError(f"config: grad_clip must be positive or null (no clipping), got {self.grad_clip!r}")
        if self.adversarial_side not in ADVERSARIAL_SIDES:
            raise InputError(f"config: adversarial_side must be one of {ADVERSARIAL_SIDES}, got {self.adversarial_side!r}")
        if self.augmentation not in AUGMENTATIONS:
            raise InputError(f"config: augmentation must be one of {AUGMENTATIONS}, got {self.augmentation!r}")
        if self.category_feature not in CATEGORY_FEATURES:
            raise InputError(f"config: category_feature must be one of {CATEGORY_FEATURES}, got {self.category_feature!r}")
        if not self.category_temperature > 0:
            raise InputError(f"config: category_temperature must be positive, got {self.category_temperature!r}")
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
    # Seconds on 2 cores: small heads, a few epochs, tiny validation. Its random-init classifier's
    # probabilities are nearly flat, so the soft category feature is sharpened (temperature 0.25;
    # at 1.0 the tiny model's held-out R@10 fell below chance, tests/test_train.py).
    "tiny": dict(field_dropout=0.3, text_encoder_epochs=3, category_temperature=0.25, share_backbone=True, embed_dim=64, instruction_dim=64, term_dim=64, epochs=8, batch_size=16,
                 lr=3e-3, augment_views=0, plateau_patience=8, stop_patience=1, val_bag_size=50, val_bags=2),
    # The README's main job: frozen cached backbone (shared with the Phase 1 classifier), heads
    # trained fast; lr 5x the paper's because the dataset is ~1000x smaller and the run has
    # minutes, not days; a 256-d instruction LSTM (paper 1024) because it dominates step time;
    # at most 20 epochs and 3 (not 10) validations without improvement after the lr drop.
    "cpu": dict(share_backbone=True, instruction_dim=256, term_dim=1024, epochs=20, batch_size=100, lr=5e-4,
                lr_after_plateau=5e-5, augment_views=0, plateau_patience=3, stop_patience=3, val_bags=5),
    # Small collections (a few hundred to ~2,000 recipes): the cpu preset with batches of 32, so an
    # epoch has enough steps, and up to 60 epochs with 5 validations of patience (cpu: 100 / 20 / 3).
    # 1,000 embedded recipes, seed 0, cpu features: R@1 12.2 / 15.1 vs cpu 8.6 / 7.6; with the small
    # features preset (224 px, MiniLM text), 3 seeds: R@1 34.3 / 34.4 (docs/small-collections.md).
    "small": dict(share_backbone=True, instruction_dim=256, term_dim=1024, epochs=60, batch_size=32, lr=5e-4,
                  lr_after_plateau=5e-5, augment_views=0, plateau_patience=5, stop_patience=5, val_bags=5),
    # SEJE's published settings: the CNN is fine-tuned end to end (release: 500 epochs at most).
    "paper": dict(epochs=500, batch_size=100, lr=1e-4, freeze_backbone=False, augment_views=0,
                  backbone="resnet50"),
}

# Where a TrainConfig default or preset differs from the authors' release, and why (README).
DEVIATIONS: dict[str, str] = {
    "double_negatives": "The class-negative term (the paper's instance-class double hard sampling, weight "
                        "`class_negative_weight` 1.0, positive = the anchor's own pair) is on by default although "
                        "the release mines instance negatives only; `double_negatives: false` restores the release.",
    "whiten_sentences": "Skip-instruction vectors pass through a fixed PCA whitening (training-set statistics) "
                        "inside the recipe encoder, because after a short Phase 1 they are nearly constant (99% "
                        "of their spread on one direction) and the recipe vector otherwise ignores the "
                        "instructions; `whiten_sentences: false` feeds them raw as the release does.",
    "discriminator": "The discriminator is a WGAN-GP critic (real side: images; generator loss -critic(recipe), "
                     "weight 0.005, recipe encoder only, as in the release), not the release's log of an "
                     "unbounded critic output, which is undefined when the critic scores below 0; "
                     "`adversarial_side: both` lets the alignment loss move both encoders.",
    "freeze_backbone": "The cpu and tiny presets freeze the image CNN and cache its features (the release "
                       "fine-tunes ResNeXt-101 end to end; the paper preset does fine-tune).",
    "share_backbone": "The cpu and tiny presets reuse the Phase 1 category classifier's backbone as the "
                      "image encoder's CNN (one CNN instead of two).",
    "lr": "The cpu preset trains at lr 5e-4 and drops to 5e-5 (release 1e-4 then 1e-5) on a dataset ~1000x "
          "smaller, with minutes instead of days.",
    "stop_patience": "The cpu preset stops after 3 consecutive validations without improvement after the lr "
                     "drop, and after 20 epochs at most (release: 10 and 500).",
    "instruction_dim": "The cpu preset's instruction LSTM is 256-d (release 1024): it dominates step time.",
    "val_bags": "The cpu preset validates on 5 bags (release 10) of at most 1000 val pairs.",
    "grad_clip": "No gradient clipping by default, as in the release; `grad_clip: 10.0` clips the encoders' "
                 "gradient norm.",
    "bf16": "fp32 by default, as in the release; `bf16: true` runs the forward pass under bf16 autocast on GPU.",
    "augmentation": "Training crops follow the release (random crop of the resized centre square, horizontal "
                    "flip); `augmentation: resized_crop` uses a random resized crop (scale 0.5-1) instead. "
                    "With a frozen backbone only `augment_views` cached crops per image exist (cpu preset: 0).",
    "field_dropout": "`field_dropout: p` replaces a training recipe, with probability p, for one step by a partial "
                     "recipe (one or two of title, ingredients, instructions); off by default as in the release "
                     "(0.3 doubled instructions-only R@1 but cost 6 full-recipe R@1 points, docs/free-text.md); "
                     "the tiny preset uses 0.3 so the tests exercise it.",
    "category_feature": "The image category feature is the class-probability-weighted mean of the category vectors "
                        "(softmax of the classifier's logits; training images' logits out of fold), not the top-1 "
                        "class's vector, so that an image whose top class changes under int8 does not jump to "
                        "another vector; `category_feature: top1` (`--category-feature top1`) restores SEJE's lookup.",
    "text_encoder": "After the fit, a text query encoder for typed words is trained in the joint space against "
                    "the frozen image embeddings (`text_encoder: false` skips it; the release has none).",
    "val_seed": "Validation bags are drawn with seed 1234 (the release's `--seed`) with numpy, so they are "
                "not the release's exact bags.",
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
