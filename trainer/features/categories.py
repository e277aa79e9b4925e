"""Image category semantics: a food classifier whose top-1 class name, as a Word2vec vector, is the
300-d image category feature (SEJE uses a Wide ResNet-50 trained on Food-101; here the classifier
trains on the dataset's own categories, any `trainer.backbones` backbone).

Training is two-stage so that CPU runs stay short: a linear head on cached features of the
frozen backbone, then `finetune_epochs` of the whole network at a lower learning rate. Or, with
`finetune_blocks`, only the last stages and the head train, on cached activations (trainer.features.finetune).

The training images' category features come out of fold (`category_folds` heads, each trained
without the fold it predicts; all photos of one recipe share a fold), so they carry the same kind
of errors as the val/test images' features; in-sample predictions would be nearly always right and
teach Phase 2 to trust them.
"""
from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from seje_sdk.errors import DataError, InputError
from seje_sdk.image import IMAGENET_MEAN, IMAGENET_STD, ImageSpec, preprocess
from seje_sdk.io import atomic_file
from seje_sdk.progress import progress_bar
from seje_sdk.text import Vocab, clean_ingredient_name, tokenize

from trainer.backbones import build_backbone, split_backbone
from trainer.checkpoints import load_plain
from trainer.features.config import FeatureConfig
from trainer.features.finetune import cache_activations, predict_from_cache, train_on_cache


class CategoryClassifier(nn.Module):
    """Backbone + linear classifier over the dataset's categories (0 = background)."""

    def __init__(self, backbone: str, num_classes: int, weights: str | None = None, pretrained: bool = False):
        super().__init__()
        self.backbone_name, self.num_classes = backbone, num_classes
        self.backbone, dim = build_backbone(backbone, weights=weights, pretrained=pretrained)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, pixels_normalised: Tensor) -> Tensor:
        """(B,3,H,W) normalised with ImageNet mean/std -> logits (B,C)."""
        return self.head(self.backbone(pixels_normalised))


def normalise(pixels: Tensor) -> Tensor:
    """Raw 0..255 pixels (B,3,H,W) -> ImageNet-normalised."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=pixels.dtype).view(1, 3, 1, 1) * 255.0
    std = torch.tensor(IMAGENET_STD, dtype=pixels.dtype).view(1, 3, 1, 1) * 255.0
    return (pixels - mean) / std


@dataclass
class ImageSet:
    """Decoded images (uint8, to keep memory at 1 byte/pixel) with their ids and labels."""

    ids: list[str]
    pixels: Tensor  # (N,3,H,W) uint8
    labels: Tensor  # (N,) int64
    skipped: list[str]
    groups: list[str] | None = None  # recipe id of each image: out-of-fold folds never split a recipe


def load_images(items: Sequence[tuple], image_size: int, desc: str) -> ImageSet:
    """Decode (image_id, path, label[, recipe_id]) items; undecodable images are skipped and listed, never fatal.

    Without a recipe id an image is its own group (out-of-fold folds then split per photo).
    """
    spec = ImageSpec.for_size(image_size)
    ids, arrays, labels, groups, skipped = [], [], [], [], []
    for image_id, path, label, *recipe in progress_bar(items, desc=desc, leave=False):
        recipe_id = recipe[0] if recipe else image_id
        try:
            arrays.append(preprocess(path, spec, where=f"image {image_id}").astype(np.uint8))
        except InputError as e:
            skipped.append(f"{image_id}: {e}")
            continue
        ids.append(image_id)
        labels.append(label)
        groups.append(recipe_id)
    pixels = torch.from_numpy(np.stack(arrays)) if arrays else torch.zeros(0, 3, image_size, image_size, dtype=torch.uint8)
    return ImageSet(ids, pixels, torch.tensor(labels, dtype=torch.long), skipped, groups)


def enough_for_folds(n: int, k: int, groups: Sequence[str] | None = None) -> bool:
    """Whether `k` out-of-fold models make sense: k >= 2 and at least 2k recipes (or images without groups)."""
    return k >= 2 and (len(set(groups)) if groups is not None else n) >= 2 * k


def image_folds(n: int, k: int, seed: int, groups: Sequence[str] | None = None) -> Tensor:
    """Fold (0..k-1) of each of `n` training images, all photos of one recipe in one fold.

    A recipe's other photos show the same dish and toppings: with them in the fold model's training
    images its prediction would be nearly in-sample, more accurate than on a test photo.
    """
    gen = torch.Generator().manual_seed(seed)
    if groups is None:
        return torch.randperm(n, generator=gen) % k
    unique = sorted(set(groups))
    order = (torch.randperm(len(unique), generator=gen) % k).tolist()
    fold_of = dict(zip(unique, order))
    return torch.tensor([fold_of[g] for g in groups], dtype=torch.long)


@torch.no_grad()
def _batched(fn, pixels: Tensor, batch: int, desc: str) -> Tensor:
    outs = [fn(normalise(pixels[i : i + batch].float())) for i in progress_bar(range(0, len(pixels), batch), desc=desc, leave=False)]
    return torch.cat(outs) if outs else torch.zeros(0)


def train_classifier(
    images: dict[str, ImageSet], num_classes: int, cfg: FeatureConfig
) -> tuple[CategoryClassifier, dict[str, Tensor]]:
    """Linear head on frozen features, then (optionally) fine-tune everything.

    Returns the model in eval mode and the logits of every partition's images: with
    finetune_epochs=0 they come from the cached features, so each image goes through the CNN once.
    """
    train = images["train"]
    if len(train.ids) == 0:
        raise DataError("category classifier: no decodable training image; check the dataset's images/ folder")
    torch.manual_seed(cfg.seed)
    model = CategoryClassifier(cfg.backbone, num_classes, cfg.backbone_weights, cfg.pretrained)
    gen = torch.Generator().manual_seed(cfg.seed)
    model.eval()
    if cfg.finetune_blocks:
        return model, train_last_stages(model, images, num_classes, cfg, gen)
    feats = {part: _batched(model.backbone, s.pixels, cfg.classifier_batch, f"{part} image features") for part, s in images.items()}
    fit_head(model.head, feats["train"], train.labels, cfg, gen, "classifier head")
    if not cfg.finetune_epochs:
        with torch.no_grad():
            logits = {part: model.head(f) if len(f) else torch.zeros(0, num_classes) for part, f in feats.items()}
        return model, {**logits, "train": out_of_fold_logits(feats["train"], train.labels, num_classes, cfg, logits["train"], train.groups)}
    opt = torch.optim.Adam(model.parameters(), lr=cfg.finetune_lr)
    model.train()
    for epoch in range(cfg.finetune_epochs):
        bar = progress_bar(torch.randperm(len(train.ids), generator=gen).split(cfg.classifier_batch),
                   desc=f"classifier fine-tune {epoch + 1}/{cfg.finetune_epochs}", leave=False)
        for b in bar:
            if len(b) < 2:  # BatchNorm needs two samples
                continue
            x = normalise(train.pixels[b].float())
            flip = torch.rand(len(b), generator=gen) < 0.5  # horizontal flips: the only augmentation
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
            loss = nn.functional.cross_entropy(model(x), train.labels[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()
    logits = {part: predict(model, s, cfg.classifier_batch) for part, s in images.items()}
    # Out-of-fold heads over the fine-tuned backbone: the backbone itself has seen every training
    # image, so these are still somewhat better than test-time predictions (stated in the README).
    train_feats = _batched(model.backbone, train.pixels, cfg.classifier_batch, "train image features")
    return model, {**logits, "train": out_of_fold_logits(train_feats, train.labels, num_classes, cfg, logits["train"], train.groups)}


def train_last_stages(model: CategoryClassifier, images: dict[str, ImageSet], num_classes: int, cfg: FeatureConfig,
                      gen: torch.Generator) -> dict[str, Tensor]:
    """Fine-tune the backbone's last `finetune_blocks` stages and the head in place, on cached activations.

    Returns each partition's logits; the training images' come from fold models, each fine-tuned
    from the ImageNet weights on the other folds' images only (out of fold, as for the frozen head).
    """
    trunk, top = split_backbone(model.backbone, cfg.finetune_blocks)
    acts = {part: cache_activations(trunk, s.pixels, normalise, cfg.classifier_batch, 2 if part == "train" else 1,
                                    f"{part} activations") for part, s in images.items()}
    labels, pretrained = images["train"].labels, copy.deepcopy(top)
    train_on_cache(top, nn.Sequential(nn.Dropout(0.2), model.head), acts["train"], labels, cfg.block_epochs,
                   cfg.block_lr, cfg.classifier_lr, cfg.classifier_batch, gen, "fine-tune last stages")
    logits = {part: predict_from_cache(top, model.head, a) if len(a) else torch.zeros(0, num_classes) for part, a in acts.items()}
    k = cfg.category_folds
    if not enough_for_folds(len(labels), k, images["train"].groups):
        return logits
    fold = image_folds(len(labels), k, cfg.seed + 1, images["train"].groups)
    for f in range(k):
        held = fold == f
        torch.manual_seed(cfg.seed + 100 + f)
        fold_top, fold_head = copy.deepcopy(pretrained), nn.Linear(model.head.in_features, num_classes)
        train_on_cache(fold_top, nn.Sequential(nn.Dropout(0.2), fold_head), acts["train"][~held], labels[~held],
                       cfg.block_epochs, cfg.block_lr, cfg.classifier_lr, cfg.classifier_batch, gen,
                       f"out-of-fold fine-tune {f + 1}/{k}")
        logits["train"][held] = predict_from_cache(fold_top, fold_head, acts["train"][held])
    return logits


def fit_head(head: nn.Linear, feats: Tensor, labels: Tensor, cfg: FeatureConfig, gen: torch.Generator, desc: str) -> nn.Linear:
    """Train a linear classifier head on cached backbone features (Adam, `head_epochs`)."""
    opt = torch.optim.Adam(head.parameters(), lr=cfg.classifier_lr)
    for _ in progress_bar(range(cfg.head_epochs), desc=desc, leave=False):
        for b in torch.randperm(len(labels), generator=gen).split(cfg.classifier_batch):
            loss = nn.functional.cross_entropy(head(feats[b]), labels[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return head


def out_of_fold_logits(feats: Tensor, labels: Tensor, num_classes: int, cfg: FeatureConfig,
                       in_sample: Tensor, groups: Sequence[str] | None = None) -> Tensor:
    """Logits of each training image from a head trained on the other `category_folds - 1` folds.

    With fewer than 2 folds (or too few images for them) the in-sample logits are returned.
    """
    k = cfg.category_folds
    if not enough_for_folds(len(labels), k, groups):
        return in_sample
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    fold = image_folds(len(labels), k, cfg.seed + 1, groups)
    out = torch.zeros(len(labels), num_classes)
    for f in range(k):
        held = fold == f
        torch.manual_seed(cfg.seed + 100 + f)
        head = fit_head(nn.Linear(feats.shape[1], num_classes), feats[~held], labels[~held], cfg, gen,
                        f"out-of-fold head {f + 1}/{k}")
        with torch.no_grad():
            out[held] = head(feats[held])
    return out


def predict(model: CategoryClassifier, images: ImageSet, batch: int = 64) -> Tensor:
    """Logits (N, C) for decoded images."""
    if len(images.ids) == 0:
        return torch.zeros(0, model.num_classes)
    return _batched(model, images.pixels, batch, "classify images")


def topk_accuracy(logits: Tensor, labels: Tensor, ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """top-k accuracy for each k (k capped at the number of classes)."""
    if len(labels) == 0:
        return {f"top{k}": float("nan") for k in ks}
    out = {}
    for k in ks:
        top = logits.topk(min(k, logits.shape[1]), dim=1).indices
        out[f"top{k}"] = round(float((top == labels.view(-1, 1)).any(dim=1).float().mean()), 4)
    return out


def category_vectors(names: dict[int, str], vocab: Vocab, word_vectors: np.ndarray) -> np.ndarray:
    """(C, dim): the joined name's Word2vec row, else the mean of its tokens' rows; background and unknown = 0."""
    out = np.zeros((max(names) + 1, word_vectors.shape[1]), dtype=np.float32)
    for cid, name in names.items():
        if cid == 0:
            continue
        joined = clean_ingredient_name(name)
        if joined in vocab:
            out[cid] = word_vectors[vocab.id(joined)]
        else:
            rows = [vocab.id(t) for t in tokenize(name) if t in vocab]
            if rows:
                out[cid] = word_vectors[rows].mean(axis=0)
    return out


def save_classifier(model: CategoryClassifier, image_size: int, path: Path) -> None:
    """category_classifier.pt: {"backbone", "num_classes", "image_size", "state_dict"}."""
    blob = {"backbone": model.backbone_name, "num_classes": model.num_classes, "image_size": image_size,
            "state_dict": model.state_dict()}
    with atomic_file(path) as f:
        torch.save(blob, f)


def load_category_classifier(features_dir: str | Path) -> CategoryClassifier:
    """The trained classifier from FEATURES_DIR: eval mode, parameters frozen."""
    path = Path(features_dir) / "category_classifier.pt"
    if not path.is_file():
        raise DataError(f"{path} is missing; build FEATURES_DIR with `seje-train features --data DATA_DIR --out FEATURES_DIR`")
    blob = load_plain(path, fix="rebuild FEATURES_DIR with `seje-train features --data DATA_DIR --out FEATURES_DIR`")
    with warnings.catch_warnings():  # the weights come from the checkpoint, not a random init
        warnings.simplefilter("ignore")
        model = CategoryClassifier(blob["backbone"], blob["num_classes"])
    model.load_state_dict(blob["state_dict"])
    model.image_size = blob["image_size"]
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()
