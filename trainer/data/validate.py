"""Check a dataset in seconds before long work: `seje-train features` and `fit` call this first.

What the training stages need and would otherwise only discover after minutes or hours:
layer1/layer2/det_ingrs present; photos on disk that decode (a sample is fully decoded);
enough image-recipe pairs in train, and some in val and test; at least two categories when
classes1M.pkl gives them. A text-only collection (recipes without photos) is refused with one
message that says what seje needs and what can be done with such a collection instead.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from seje_sdk.errors import DataError, InputError
from trainer.data.recipe1m import CLASSES, LAYER1, LAYER2, PARTITIONS, SkipReport, iter_recipes


@dataclass(frozen=True)
class ValidationConfig:
    """Thresholds of the pre-flight check (defaults fit the tiny preset and real Recipe1M alike)."""

    min_train_pairs: int = 8  # a few batches of pairs; fewer cannot train a triplet embedding
    min_eval_pairs: int = 2  # val selects the model, test evaluates it: ranking needs 2 pairs
    decode_sample: int = 24  # photos fully decoded with Pillow
    scan_limit: int = 50_000  # records read before stopping early, once every split has enough pairs


@dataclass
class DatasetCheck:
    """What the check found (printed as one line; the counts cover the records it read)."""

    data_dir: Path
    recipes: Counter = field(default_factory=Counter)  # per partition
    pairs: Counter = field(default_factory=Counter)  # recipes with at least one photo on disk, per partition
    listed_images: int = 0
    found_images: int = 0
    decoded: int = 0
    undecodable: list[str] = field(default_factory=list)
    sample: list[tuple[str, Path]] = field(default_factory=list, repr=False)  # photos to decode, over the partitions
    classes: int | None = None  # distinct classes1M categories among training pairs
    read_all: bool = True
    seconds: float = 0.0

    def summary(self) -> str:
        scope = "" if self.read_all else f" (first {sum(self.recipes.values()):,} records)"
        pairs = "/".join(f"{self.pairs[p]:,}" for p in PARTITIONS)
        classes = "" if self.classes is None else f", {self.classes} categories"
        return (f"dataset check{scope}: train/val/test pairs {pairs}, {self.decoded}/{self.decoded + len(self.undecodable)} "
                f"sampled photos decode{classes} ({self.seconds:.1f} s)")


def check_dataset(data_dir: str | Path, stage: str = "features", cfg: ValidationConfig = ValidationConfig()) -> DatasetCheck:
    """Raise DataError/InputError naming the folder and what to do, or return what was found."""
    start = time.time()
    data_dir = Path(data_dir)
    command = f"seje-train {stage}"
    if not (data_dir / LAYER1).is_file():
        raise InputError(f"{data_dir}: no {LAYER1}; {command} needs a Recipe1M-layout folder "
                         f"(make a synthetic one with `seje-train synth DIR`)")
    if not (data_dir / LAYER2).is_file():
        raise DataError(_text_only(data_dir, command, f"it has {LAYER1} but no {LAYER2} listing photos"))
    check = _scan(data_dir, cfg)
    if not check.found_images:
        raise DataError(_text_only(data_dir, command, f"{LAYER2} lists {check.listed_images:,} photo ids and none of "
                                                     f"them is a file under {data_dir / 'images'}"))
    _decode_sample(check, data_dir, cfg)
    short = [p for p in PARTITIONS if check.pairs[p] < (cfg.min_train_pairs if p == "train" else cfg.min_eval_pairs)]
    if short:
        need = ", ".join(f"{p} {check.pairs[p]} (needs {cfg.min_train_pairs if p == 'train' else cfg.min_eval_pairs})"
                         for p in short)
        raise DataError(f"{data_dir}: too few image-recipe pairs (recipes with a photo on disk) in {need}; "
                        f"{command} trains on train, selects on val and reports test. Check the 'partition' fields of "
                        f"{LAYER1} and the photos under images/; `seje-train data-stats {data_dir} --require-images` "
                        "counts them")
    if check.classes is not None and check.classes < 2:
        raise DataError(f"{data_dir}: {CLASSES} gives the training pairs {check.classes} category; the category "
                        f"classifier needs at least 2 (delete {CLASSES} to derive categories from title bigrams)")
    check.seconds = time.time() - start
    return check


def _scan(data_dir: Path, cfg: ValidationConfig) -> DatasetCheck:
    """Stream layer1 (skipping bad records: the stages report those) and stat each listed photo."""
    check = DatasetCheck(data_dir)
    classes: set[int] = set()
    for i, r in enumerate(iter_recipes(data_dir, skip_bad=True, report=SkipReport())):
        check.recipes[r.partition] += 1
        check.listed_images += len(r.image_paths)
        present = [p for p in r.image_paths if p.is_file()]
        check.found_images += len(present)
        if present:
            check.pairs[r.partition] += 1
            if r.partition == "train" and r.class_id is not None:
                classes.add(r.class_id)
            if len(check.sample) < cfg.decode_sample and check.pairs[r.partition] <= cfg.decode_sample // 2:
                check.sample.append((r.id, present[0]))
        enough = check.pairs["train"] >= cfg.min_train_pairs and min(check.pairs["val"], check.pairs["test"]) >= cfg.min_eval_pairs
        if i + 1 >= cfg.scan_limit and enough:
            check.read_all = False
            break
    check.classes = len(classes) if (data_dir / CLASSES).is_file() else None
    return check


def _decode_sample(check: DatasetCheck, data_dir: Path, cfg: ValidationConfig) -> None:
    """Fully decode the sampled photos; refuse when none decodes (a wrong or corrupt images/ folder)."""
    from seje_sdk.image import load_image

    for recipe_id, path in check.sample:
        try:
            load_image(path, where=f"photo of recipe {recipe_id}").load()
            check.decoded += 1
        except (InputError, OSError) as e:
            check.undecodable.append(str(e))
    if check.sample and not check.decoded:
        raise DataError(f"{data_dir}: none of {len(check.undecodable)} sampled photos decodes, e.g. "
                        f"{check.undecodable[0]}; `seje-train data-stats {data_dir} --require-images --verify-images` "
                        "lists every bad file")


def _text_only(data_dir: Path, command: str, what: str) -> str:
    return (f"{data_dir} holds recipes without photos ({what}). {command} learns a joint photo-recipe embedding and "
            f"needs photos at images/<partition>/<c0>/<c1>/<c2>/<c3>/<image_id>, listed in {LAYER2} (Recipe1M's layout). "
            f"A text-only collection cannot be trained on; to search it by photo, index it with a trained bundle: "
            f"`seje index build BUNDLE --recipes {data_dir / LAYER1} --out INDEX_DIR`")
