"""`seje-train import`: a user's collection (JSONL, CSV, parquet, photo folder, HF datasets folder)
-> the Recipe1M layout the pipeline reads (layer1/layer2/det_ingrs.json, classes1M.pkl, images/).

Three passes, none holding the collection in memory: (1) read and check every row and photo
into an on-disk staging table (trainer.data.staging), (2) group exact duplicates and split
(trainer.data.split), derive categories from the training titles when none are given, refuse
when too few photo-recipe pairs remain, (3) write the layout and photos. All of it happens in a
temporary sibling folder renamed into place at the end (atomic). Every problem found is in
import_problems.jsonl and counted in import_report.json; nothing is dropped silently.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from seje_sdk.errors import DataError, InputError
from seje_sdk.io import atomic_dir, write_json
from seje_sdk.progress import progress_bar
from trainer.data.classes import write_classes
from trainer.data.import_rows import parse_row
from trainer.data.import_writer import LayoutWriter, LINKS
from trainer.data.sources import Source, iter_photos, iter_rows, open_source
from trainer.data.split import PARTITIONS, SplitResult, assign_partitions
from trainer.data.synth import LAYOUT as RECIPE1M_LAYOUT, check_replaceable
from trainer.data.staging import Staging
from trainer.data.title_categories import CategoryConfig, TitleMatcher, derive_categories, given_categories
from trainer.data.unseen_words import recipe_tokens, unseen_word_collisions
from trainer.data.validate import ValidationConfig

REPORT, PROBLEMS = "import_report.json", "import_problems.jsonl"
LAYOUT = {*RECIPE1M_LAYOUT, REPORT, PROBLEMS}


@dataclass(frozen=True)
class ImportConfig:
    """Split, photo placement, category derivation and the refusal thresholds of `seje-train import`."""

    split: tuple[float, float, float] = (0.7, 0.15, 0.15)
    seed: int = 0
    link: str = "symlink"  # symlink | hardlink | copy (photos given as bytes are always written)
    categories: CategoryConfig = field(default_factory=CategoryConfig)
    min_train_pairs: int = ValidationConfig.min_train_pairs
    min_eval_pairs: int = ValidationConfig.min_eval_pairs
    examples: int = 3  # examples per problem kind in the report and messages


def import_collection(source: str | os.PathLike, out_dir: str | os.PathLike, images_root: str | os.PathLike | None = None,
                      cfg: ImportConfig = ImportConfig()) -> dict:
    """Import SOURCE into OUT_DIR (atomically); return the report written to OUT_DIR/import_report.json."""
    if cfg.link not in LINKS:
        raise InputError(f"--link {cfg.link!r}: choose one of {LINKS}")
    src = open_source(source, images_root)
    out = Path(out_dir)
    check_replaceable(out, LAYOUT, "--out")
    with atomic_dir(out) as tmp:
        staging = Staging(tmp)
        try:
            _read(src, staging, tmp / ".photos")
            split = assign_partitions(staging.db, staging.n, cfg.split, cfg.seed)
            report = _plan_report(src, staging, split, cfg)
            _refuse_if_too_little(src, staging, report, cfg)
            names, class_of_name, report["categories"] = _categories(staging, split, cfg)
            report["unseen_words"] = unseen_word_collisions(_tokens_of(staging, split, "train"),
                                                            _tokens_of(staging, split, "test"))
            writer = LayoutWriter(tmp, cfg.link)
            class_of = writer.write(staging, split, class_of_name, names)
            write_classes(tmp / "classes1M.pkl", class_of, names)
            report["ingredients"] = writer.ingredient_stats()
            report["categories"]["coverage"] = round(float(np.mean([c != 0 for c in class_of.values()])), 4)
            with open(tmp / PROBLEMS, "w", encoding="utf-8") as f:
                for item in staging.all_problems():
                    f.write(json.dumps(item, ensure_ascii=False) + "\n")
            write_json(tmp / REPORT, report)
        finally:
            staging.close()
        (tmp / ".staging.sqlite").unlink()
        shutil.rmtree(tmp / ".photos", ignore_errors=True)
    return report


def _read(src: Source, staging: Staging, photo_dir: Path) -> None:
    """Pass 1: check every row and photo into the staging table; photos given as bytes go to photo_dir."""
    if src.photo_folder is not None:
        staging.index_folder(iter_photos(src.photo_folder))
    photo_dir.mkdir()
    for i, (where, row) in enumerate(progress_bar(iter_rows(src), desc="import: check rows", unit="row", mininterval=2.0)):
        if src.photo_folder is not None and not row.get("images") and row.get("id") not in (None, ""):
            row["images"] = staging.photos_named(str(row["id"]).strip())
        recipe, problems = parse_row(row, f"row{i + 1:07d}", src.images_root)
        for kind, detail in problems:
            staging.problem(kind, where, detail + ("" if recipe is not None else " (row skipped)"))
        if recipe is None:
            continue
        seen, photos = set(), []
        for photo in recipe.photos:
            if photo.sha256 in seen:
                staging.problem("duplicate photo", where, f"the same photo is listed twice ({photo.path}); kept once")
                continue
            seen.add(photo.sha256)
            photos.append(photo)
        recipe.photos = photos
        staged = []
        for j, photo in enumerate(photos):
            if photo.data is not None:
                path = photo_dir / f"{staging.n}_{j}{photo.suffix}"
                path.write_bytes(photo.data)
                staged.append(str(path))
            else:
                staged.append(str(photo.path.resolve()))
        if staging.add(recipe, where, staged) and not photos:
            staging.problem("recipe without photos", where, f"recipe {recipe.id!r} has no usable photo "
                                                            "(kept as text only: it cannot be a training pair)")
    if src.photo_folder is not None:
        for path in staging.unreferenced_photos():
            staging.problem("photo without recipe", path, "no recipe lists this photo or has its name as id")
    if staging.n == 0:
        raise DataError(f"{src.path}: no usable recipe rows; {_problem_lines(staging, 3)}")


def _plan_report(src: Source, staging: Staging, split: SplitResult, cfg: ImportConfig) -> dict:
    """Counts per partition (recipes, pairs) and per problem kind, with examples."""
    has_photo = staging.photo_counts() > 0
    for n, given, assigned in split.moved:
        staging.problem("moved to keep duplicates together", f"staged row {n}",
                        f"given partition {given!r}, placed in {assigned!r} with its exact duplicates")
    return {
        "source": str(src.path), "format": src.format, "images_root": str(src.images_root),
        "config": {"split": list(cfg.split), "seed": cfg.seed, "link": cfg.link},
        "recipes": {p: int((split.partition == k).sum()) for k, p in enumerate(PARTITIONS)},
        "pairs": {p: int(((split.partition == k) & has_photo).sum()) for k, p in enumerate(PARTITIONS)},
        "duplicates": {"groups": split.duplicate_groups, "recipes": split.duplicate_recipes,
                       "moved": len(split.moved)},
        "problems": {kind: {"count": n, "examples": staging.examples(kind, cfg.examples)}
                     for kind, n in staging.counts.most_common()},
    }


def _refuse_if_too_little(src: Source, staging: Staging, report: dict, cfg: ImportConfig) -> None:
    pairs = report["pairs"]
    short = [p for p in PARTITIONS if pairs[p] < (cfg.min_train_pairs if p == "train" else cfg.min_eval_pairs)]
    if short:
        need = ", ".join(f"{p} {pairs[p]} (needs {cfg.min_train_pairs if p == 'train' else cfg.min_eval_pairs})"
                         for p in short)
        raise DataError(f"{src.path}: too few photo-recipe pairs remain after the checks: {need}. "
                        f"Read {staging.n:,} usable recipe rows; {_problem_lines(staging, cfg.examples)}")


def _problem_lines(staging: Staging, examples: int) -> str:
    if not staging.counts:
        return "no row had a problem (the collection is simply too small, or --split leaves a partition empty)"
    return "problems found: " + "; ".join(f"{n:,} x {kind} (e.g. {' | '.join(staging.examples(kind, examples))})"
                                          for kind, n in staging.counts.most_common())


def _categories(staging: Staging, split: SplitResult, cfg: ImportConfig) -> tuple[dict[int, str], object, dict]:
    """Class names and a recipe -> class rule: the given category column, else derived from training titles."""
    given = staging.category_counts()
    if given:
        names = given_categories(given)
        ids = {name: cid for cid, name in names.items()}
        return names, lambda title, category: ids.get(category, 0), {"source": "given", "classes": len(names) - 1}
    train = PARTITIONS.index("train")
    names = derive_categories((payload[0] for n, _, _, payload in staging.rows() if split.partition[n] == train),
                              cfg.categories)
    match = TitleMatcher(names)
    info = {"source": "derived from title bigrams and dish words", "classes": len(names) - 1,
            "max_classes": cfg.categories.max_classes,
            "min_count": cfg.categories.min_count_for(int((split.partition == train).sum()))}
    return names, lambda title, category: match(title), info


def _tokens_of(staging: Staging, split: SplitResult, partition: str) -> Iterator[list[str]]:
    k = PARTITIONS.index(partition)
    return (recipe_tokens(*payload) for n, _, _, payload in staging.rows() if split.partition[n] == k)

