"""Training inputs: (image, recipe) pairs per split, recipe tensors from the FeatureStore, and
image inputs either as cached frozen-backbone features or as augmented pixels.

Caching (the CPU presets' deviation from the paper, which fine-tunes the CNN): the backbone is
frozen and run once per image on the centre crop plus `augment_views` random crops; training
then samples one cached view of one of the recipe's first `max_images` images per step.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from seje_sdk.errors import DataError
from seje_sdk.image import ImageSpec, load_image, preprocess, resize_crop
from seje_sdk.progress import progress_bar
from trainer.model import category_feature_of


@dataclass
class PairSplit:
    """The recipes of one partition that have images, aligned with FeatureStore rows."""

    name: str
    recipe_ids: list[str]
    rows: np.ndarray  # FeatureStore row of each recipe
    labels: np.ndarray  # category id (0 = background)
    image_ids: list[list[str]]
    image_paths: list[list[Path]]

    def __len__(self) -> int:
        return len(self.recipe_ids)


def load_split(data_dir: str | Path, store: Any, partition: str, max_images: int) -> PairSplit:
    """Read a partition and align it with the FeatureStore; recipes unknown to the store are refused."""
    from trainer.data.recipe1m import read_split

    recipes = read_split(data_dir, partition, require_images=True)
    if not recipes:
        raise DataError(f"{data_dir}: the {partition} split has no recipe with images")
    rows, labels = [], []
    for r in recipes:
        try:
            rows.append(store.index_of(r.id))
        except (KeyError, DataError) as e:
            raise DataError(
                f"{data_dir}: {partition} recipe {r.id} is not in the FEATURES_DIR; the features were built "
                f"from another dataset - rerun `seje-train features --data {data_dir} --out FEATURES_DIR`"
            ) from e
        labels.append(int(store.class_of.get(r.id, r.class_id or 0)))
    return PairSplit(
        name=partition, recipe_ids=[r.id for r in recipes], rows=np.asarray(rows, dtype=np.int64),
        labels=np.asarray(labels, dtype=np.int64),
        image_ids=[list(r.image_ids[:max_images]) for r in recipes],
        image_paths=[list(r.image_paths[:max_images]) for r in recipes],
    )


@dataclass
class RecipeTensors:
    """Padded sentence vectors (N,S,D) (field slots first), slot counts (N,), term features (N,W) of a split."""

    vectors: Tensor
    counts: Tensor
    terms: Tensor
    min_slots: int = 1  # field slots + 1: the instruction LSTM always gets at least one step

    def batch(self, idx: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        # Trim padding to the batch's longest recipe: the LSTM runs fewer steps.
        counts = self.counts[idx]
        s = max(int(counts.max()), self.min_slots)
        return self.vectors[idx, :s], counts, self.terms[idx]


def recipe_tensors(store: Any, rows: Sequence[int], max_sentences: int) -> RecipeTensors:
    """Gather the precomputed (frozen) skip-instruction vectors and term features of `rows`."""
    fields = store.sentence_fields
    per_recipe = [np.asarray(store.sentence_vectors(int(i)), dtype=np.float32)[:fields + max_sentences] for i in rows]
    dim = store.sentence_dim
    s = max([len(v) for v in per_recipe] + [fields + 1])
    vectors = np.zeros((len(rows), s, dim), dtype=np.float32)
    for i, v in enumerate(per_recipe):
        vectors[i, : len(v)] = v
    counts = np.asarray([len(v) for v in per_recipe], dtype=np.int64)
    terms = np.asarray(store.term_features, dtype=np.float32)[np.asarray(rows, dtype=np.int64)]
    return RecipeTensors(torch.from_numpy(vectors), torch.from_numpy(counts), torch.from_numpy(terms), fields + 1)


def category_features(store: Any, split: PairSplit, mode: str = "top1", temperature: float = 1.0) -> tuple[Tensor, Tensor]:
    """Per image: the Phase 1 category feature (trainer.model.category_feature_of over its predicted
    class, or over its stored logits for "soft"), flattened, with offsets (N+1,) so recipe i's images
    are rows off[i]:off[i+1]."""
    vectors = torch.as_tensor(np.asarray(store.category_vectors, dtype=np.float32))
    image_ids, offsets = [], [0]
    for recipe_id, images in zip(split.recipe_ids, split.image_ids):
        for image_id in images:
            if image_id not in store.image_category:
                raise DataError(f"FEATURES_DIR image_categories.json has no entry for image {image_id} "
                                f"(recipe {recipe_id}); rerun `seje-train features --data DATA_DIR --out FEATURES_DIR` on this data")
            image_ids.append(image_id)
        offsets.append(len(image_ids))
    if mode == "soft":
        logits = torch.from_numpy(np.asarray(store.category_logits(image_ids), dtype=np.float32))
        return category_feature_of(logits, vectors, mode, temperature), torch.tensor(offsets, dtype=torch.long)
    ids = torch.tensor([int(store.image_category[i]) for i in image_ids], dtype=torch.long)
    return vectors[ids], torch.tensor(offsets, dtype=torch.long)


def random_crop(src: Any, spec: ImageSpec, rng: np.random.Generator, augmentation: str = "release",
                scale: tuple[float, float] = (0.5, 1.0)) -> np.ndarray:
    """Training augmentation -> float32 (3,size,size) raw 0..255, then a horizontal flip half the time.

    "release": the shorter side resized to spec.resize, the centre square kept, a random
    spec.size crop of it (the release's Scale(256), CenterCrop(256), RandomCrop(224));
    "resized_crop": a random crop of 50-100% of the area and aspect 3/4-4/3, resized.
    """
    from PIL import Image

    img = load_image(src)
    if augmentation == "release":
        square = resize_crop(img, ImageSpec(size=spec.resize, resize=spec.resize))
        left, top = (int(rng.integers(0, spec.resize - spec.size + 1)) for _ in range(2))
        img = square.crop((left, top, left + spec.size, top + spec.size))
        if rng.random() < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        return np.asarray(img, dtype=np.float32).transpose(2, 0, 1).copy()
    w, h = img.size
    area = w * h * rng.uniform(*scale)
    ratio = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
    cw = int(round(min(w, np.sqrt(area * ratio))))
    ch = int(round(min(h, np.sqrt(area / ratio))))
    left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    img = img.crop((left, top, left + cw, top + ch)).resize((spec.size, spec.size), Image.BILINEAR)
    if rng.random() < 0.5:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    return np.asarray(img, dtype=np.float32).transpose(2, 0, 1).copy()


def centre_crop(src: Any, spec: ImageSpec) -> np.ndarray:
    """The eval transform: exactly seje_sdk.image.preprocess (what export and the SDK see)."""
    return preprocess(src, spec)


@torch.no_grad()
def cache_backbone_features(image_encoder: Any, split: PairSplit, spec: ImageSpec, views: int, seed: int,
                            augmentation: str = "release", batch_size: int = 64) -> Tensor:
    """Frozen-backbone features (n_images, 1 + views, F): view 0 is the centre crop, the rest augmented."""
    paths = [p for ps in split.image_paths for p in ps]
    rng = np.random.default_rng(seed)
    backbone = image_encoder.backbone.eval()
    out = []
    jobs = [(p, v) for p in paths for v in range(1 + views)]
    for start in progress_bar(range(0, len(jobs), batch_size), desc=f"cache {split.name} image features", leave=False):
        chunk = jobs[start:start + batch_size]
        pixels = np.stack([centre_crop(p, spec) if v == 0 else random_crop(p, spec, rng, augmentation) for p, v in chunk])
        out.append(backbone(image_encoder.normalise(torch.from_numpy(pixels))))
    feats = torch.cat(out) if out else torch.zeros(0)
    return feats.reshape(len(paths), 1 + views, -1)


class PixelPairs(torch.utils.data.Dataset):
    """Augmented pixels of a chosen image of each recipe (end-to-end fine-tuning, the paper preset).

    Items are (recipe index, image index, seed) so the epoch's choices and crops are reproducible.
    """

    def __init__(self, split: PairSplit, spec: ImageSpec, train: bool, augmentation: str = "release") -> None:
        self.split, self.spec, self.train, self.augmentation = split, spec, train, augmentation

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, key: tuple[int, int, int]) -> Tensor:
        i, j, seed = key
        path = self.split.image_paths[i][j]
        if self.train:
            return torch.from_numpy(random_crop(path, self.spec, np.random.default_rng(seed), self.augmentation))
        return torch.from_numpy(centre_crop(path, self.spec))

