"""FEATURES_DIR (schema seje-features/1): the manifest, the input fingerprint and the read side.

`FeatureStore.load` is what training reads; the writer is `trainer.features.pipeline`.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seje_sdk.errors import DataError
from seje_sdk.io import load_manifest, sha256_file
from seje_sdk.text import Vocab

from trainer.data.classes import read_classes

SCHEMA = "seje-features/1"
# (n_images, C) float32: each image's classifier logits (training images: out of fold), rows in the
# sorted order of image_categories.json's ids. Folders built before the soft category feature lack it.
LOGITS_FILE = "image_category_logits.npy"
DATA_FILES = ("layer1.json", "layer2.json", "det_ingrs.json", "classes1M.pkl")


def data_fingerprint(data_dir: str | Path) -> dict[str, str]:
    """sha256 of each Recipe1M text file and of the image listing (relative path + size) of data_dir."""
    data_dir = Path(data_dir)
    out = {name: sha256_file(data_dir / name) for name in DATA_FILES if (data_dir / name).is_file()}
    listing = hashlib.sha256()
    images = data_dir / "images"
    if images.is_dir():
        for p in sorted(images.rglob("*")):
            if p.is_file():
                listing.update(f"{p.relative_to(images).as_posix()}\t{p.stat().st_size}\n".encode())
    out["images/"] = listing.hexdigest()
    out["all"] = hashlib.sha256(json.dumps(out, sort_keys=True).encode()).hexdigest()
    return out


def explain_changes(old: dict[str, Any], new_config: dict[str, Any], new_data: dict[str, str]) -> list[str]:
    """Human-readable reasons why an existing FEATURES_DIR cannot be reused (empty = reusable)."""
    reasons = []
    if old.get("schema") != SCHEMA:
        return [f"schema {old.get('schema')!r} is not {SCHEMA!r}"]
    old_config = old.get("requested_config", old.get("config", {}))
    for key in sorted(set(old_config) | set(new_config)):
        a, b = old_config.get(key, "<absent>"), new_config.get(key, "<absent>")
        if a != b:
            reasons.append(f"config {key}: {a!r} -> {b!r}")
    old_data = old.get("data_fingerprint", {})
    for name in sorted((set(old_data) | set(new_data)) - {"all"}):
        if old_data.get(name) != new_data.get(name):
            reasons.append(f"input {name} changed")
    return reasons


@dataclass
class FeatureStore:
    """Everything Phase 2 reads from FEATURES_DIR."""

    root: Path
    manifest: dict[str, Any]
    vocab: Vocab
    word_vectors: np.ndarray  # (V, word_dim)
    recipe_ids: list[str]
    partitions: list[str]
    term_features: np.ndarray  # (N, word_dim)
    category_names: list[str]
    category_vectors: np.ndarray  # (C, word_dim)
    class_of: dict[str, int]
    image_category: dict[str, int]
    # (n_images, C) classifier logits, rows in sorted image-id order; None in folders built before them
    image_logits: np.ndarray | None
    _sentences: np.ndarray
    _offsets: np.ndarray
    _index: dict[str, int]

    @property
    def config(self) -> dict[str, Any]:
        return self.manifest["config"]

    @property
    def image_size(self) -> int:
        return int(self.config["image_size"])

    @property
    def sentence_dim(self) -> int:
        return int(self._sentences.shape[1])

    @property
    def sentence_fields(self) -> int:
        """Leading slots of each recipe's sentence vectors that are fields (title, ingredients), not sentences."""
        from trainer.features.minilm import slot_count

        return slot_count(self.config)[0]

    def index_of(self, recipe_id: str) -> int:
        """Row of a recipe in every per-recipe array."""
        try:
            return self._index[recipe_id]
        except KeyError:
            raise DataError(f"{self.root}: recipe {recipe_id!r} is not in this FEATURES_DIR (built from another dataset?)") from None

    def category_logits(self, image_ids: list[str]) -> np.ndarray:
        """(len(image_ids), C) classifier logits of these images (training images: out of fold)."""
        if self.image_logits is None:
            raise DataError(f"{self.root} has no {LOGITS_FILE} (built before the soft category feature); rebuild "
                            f"it with `seje-train features --data DATA_DIR --out {self.root}`, or train with "
                            "`--category-feature top1`")
        row = {image_id: i for i, image_id in enumerate(sorted(self.image_category))}
        return self.image_logits[np.asarray([row[i] for i in image_ids], dtype=np.int64)]

    def sentence_vectors(self, i: int) -> np.ndarray:
        """(n_i, D) sentence vectors of recipe row i: sentence_fields field rows, then at most max_sentences sentences."""
        return np.asarray(self._sentences[self._offsets[i] : self._offsets[i + 1]])

    @classmethod
    def load(cls, features_dir: str | Path) -> "FeatureStore":
        """Open FEATURES_DIR; a missing file or another schema raises DataError saying what to rerun."""
        root = Path(features_dir)
        manifest = load_manifest(root, "schema", SCHEMA, DataError,
                                 f"{root}: no manifest.json, not a FEATURES_DIR; build it with `seje-train features --data DATA_DIR --out {root}`",
                                 lambda found: f"{root}: schema {found!r}, expected {SCHEMA!r}; rebuild with `seje-train features --data DATA_DIR --out {root}`")
        missing = [name for name in manifest.get("files", {}) if not (root / name).is_file()]
        if missing:
            raise DataError(f"{root}: files listed in manifest.json are missing: {missing}; rebuild with `seje-train features --data DATA_DIR --out {root}`")

        def read_json(name: str) -> Any:
            return json.loads((root / name).read_text(encoding="utf-8"))

        recipes = read_json("recipes.json")
        image_category = {k: int(v) for k, v in read_json("image_categories.json").items()}
        logits_path = root / LOGITS_FILE
        image_logits = np.load(logits_path) if logits_path.is_file() else None
        if image_logits is not None and len(image_logits) != len(image_category):
            raise DataError(f"{logits_path}: {len(image_logits)} rows for {len(image_category)} images in "
                            f"image_categories.json; rebuild with `seje-train features --data DATA_DIR --out {root}`")
        names = read_json("category_names.json")
        class_of, _ = read_classes(root / "classes1M.pkl")
        return cls(
            root=root,
            manifest=manifest,
            vocab=Vocab.load(root / "vocab.json"),
            word_vectors=np.load(root / "word2vec.npy"),
            recipe_ids=list(recipes["ids"]),
            partitions=list(recipes["partition"]),
            term_features=np.load(root / "term_features.npy"),
            category_names=list(names),
            category_vectors=np.load(root / "category_vectors.npy"),
            class_of=class_of,
            image_category=image_category,
            image_logits=image_logits,
            _sentences=np.load(root / "sentence_vectors.npy", mmap_mode="r"),
            _offsets=np.load(root / "sentence_offsets.npy"),
            _index={rid: i for i, rid in enumerate(recipes["ids"])},
        )
