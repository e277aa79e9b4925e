"""The importer's last pass: staged rows -> layer1.json, layer2.json, det_ingrs.json and images/,
streamed (one record in memory at a time), photos linked or copied into Recipe1M's hashed tree.

det_ingrs.json records carry `"derived": true`: their names come from
trainer.data.ingredient_names, not from Recipe1M's detector.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Callable

from seje_sdk.errors import InputError
from trainer.data.import_ingredients import NameCollector
from trainer.data.ingredient_names import derive_det_ingredients, ingredient_name
from trainer.data.split import PARTITIONS, SplitResult
from trainer.data.staging import Staging

LINKS = ("symlink", "hardlink", "copy")


class _JsonList:
    """A JSON list written one item at a time."""

    def __init__(self, path: Path) -> None:
        self.f = open(path, "w", encoding="utf-8")
        self.f.write("[")
        self.first = True

    def add(self, item: dict) -> None:
        self.f.write(("" if self.first else ",\n") + json.dumps(item, sort_keys=True, ensure_ascii=False))
        self.first = False

    def close(self) -> None:
        self.f.write("]\n")
        self.f.close()


def image_id(recipe_id: str, j: int, suffix: str) -> str:
    """A Recipe1M-style hex photo id, stable for a recipe id and photo position."""
    return hashlib.sha1(f"{recipe_id}:{j}".encode("utf-8")).hexdigest()[:10] + suffix


class LayoutWriter:
    """Writes the Recipe1M files into `folder`, placing photos with `link`."""

    def __init__(self, folder: Path, link: str) -> None:
        self.folder, self.link = folder, link
        self.lines = self.named = self.valid = 0
        self.names: dict[str, int] = {}

    def write(self, staging: Staging, split: SplitResult, class_of_name: Callable[[str, str | None], int],
              names: dict[int, str]) -> dict[str, int]:
        """Write every staged recipe; return {recipe_id: class_id} for classes1M.pkl."""
        canonical = self.canonical_names(staging, split)
        files = {name: _JsonList(self.folder / name) for name in ("layer1.json", "layer2.json", "det_ingrs.json")}
        class_of: dict[str, int] = {}
        try:
            for n, rid, category, (title, ingredients, instructions) in staging.rows():
                part = PARTITIONS[split.partition[n]]
                files["layer1.json"].add({"id": rid, "title": title, "url": "", "partition": part,
                                          "ingredients": [{"text": t} for t in ingredients],
                                          "instructions": [{"text": t} for t in instructions]})
                det, valid = derive_det_ingredients(ingredients, canonical)
                files["det_ingrs.json"].add({"id": rid, "ingredients": [{"text": t} for t in det], "valid": valid,
                                             "derived": True})
                self.lines += len(det)
                self.named += sum(bool(t) for t in det)
                self.valid += sum(valid)
                photos = [self._place(part, image_id(rid, j, suffix), Path(path))
                          for j, (suffix, path) in enumerate(staging.photos_of(n))]
                if photos:
                    files["layer2.json"].add({"id": rid, "images": [{"id": p, "url": ""} for p in photos]})
                class_of[rid] = class_of_name(title, category)
        finally:
            for f in files.values():
                f.close()
        return class_of

    def canonical_names(self, staging: Staging, split: SplitResult) -> dict[str, str]:
        """One streamed pass over the training recipes: derived name -> its collection-level form."""
        names = NameCollector()
        for n, _, _, (_, ingredients, instructions) in staging.rows():
            if PARTITIONS[split.partition[n]] == "train":
                names.add([ingredient_name(line) for line in ingredients], instructions)
        canonical = names.mapping()
        self.names = {"training_names": len(names.names), "after_normalising": len({canonical.get(x, x) for x in names.names})}
        return canonical

    def _place(self, partition: str, photo_id: str, source: Path) -> str:
        dest = self.folder.joinpath("images", partition, *photo_id[:4], photo_id)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if source.parent.name == ".photos" and source.parent.parent == self.folder:
            os.replace(source, dest)  # bytes from a HF dataset, already written to the staging folder
        elif self.link == "symlink":
            os.symlink(source, dest)
        elif self.link == "hardlink":
            try:
                os.link(source, dest)
            except OSError as e:
                if e.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                    raise InputError(f"{source}: cannot hard-link into {self.folder.parent} ({e.strerror}); "
                                     "use --link symlink or --link copy") from e
                raise
        else:
            shutil.copyfile(source, dest)
        return photo_id

    def ingredient_stats(self) -> dict:
        """How many ingredient lines got a derived name, and how many of those the tagger can use."""
        return {"det_ingrs": "derived from the lines (trainer.data.ingredient_names)", "lines": self.lines,
                "named": self.named, "valid": self.valid, "distinct": self.names,
                "valid_share": round(self.valid / self.lines, 4) if self.lines else 0.0}
