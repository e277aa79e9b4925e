"""Build a Retriever index folder from recipe files and image files or folders, with its catalog.

What `seje index build --recipes/--images` does: embed the recipes (searched by images) and the
images (searched by recipes) with a loaded Retriever, add them under their ids (a recipe's "id",
else its position; an image's file name, or its path under its folder where names repeat: never
a server path), and save both indexes with catalog.jsonl rows in one atomic save: recipe titles
and, through a Recipe1M layer2.json beside the recipe file, a photo path; image paths with the
title and id of the recipe each photo belongs to. The catalog records the data root (the common
folder of the inputs) and paths relative to it. A layer2 image id that is not a plain file name
is refused, naming it. For corpora that do not fit in memory, embed shards and use index_from_shards.

Example:
    >>> r = Retriever.load("bundle/", index="exact")                                    # doctest: +SKIP
    >>> build_from_files(r, "idx/", recipe_files=["layer1.json"], image_paths=["photos/"]).counts   # doctest: +SKIP
    [('recipes', 1000, 0), ('images', 800, 2)]
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from seje_sdk.catalog import image_ids, image_rows, photo_owners, recipe_photos, recipe_rows
from seje_sdk.corpus.index_plan import kind_advice
from seje_sdk.corpus.reader import IMAGE_SUFFIXES, image_files, read_recipes
from seje_sdk.errors import InputError


@dataclass(frozen=True)
class FilesReport:
    """Where the index went, its kind, and (what, items indexed, items skipped) per modality."""

    out: str
    kind: str
    counts: list[tuple[str, int, int]]

    def advice(self) -> str:
        """'; <kind> recommended ...' for the larger modality's size (seje_sdk.corpus.index_plan.recommend_kind)."""
        return kind_advice(max(n for _, n, _ in self.counts), self.kind)


def build_from_files(retriever: Any, out: str | os.PathLike, recipe_files: Sequence[str | os.PathLike] = (),
                     image_paths: Sequence[str | os.PathLike] = (), batch_size: int = 64, skip_bad: bool = False,
                     show_progress: bool = False) -> FilesReport:
    """Embed and index the recipes of `recipe_files` and the images under `image_paths`, save to `out` with a catalog.

    skip_bad=True skips unreadable items (counted as skipped) instead of failing; when every item
    is skipped nothing is written (InputError).
    """
    if not recipe_files and not image_paths:
        raise InputError("nothing to index: give recipe files and/or image files or folders")
    on_error = "skip" if skip_bad else "raise"
    counts, catalog, roots, titles = [], [], [], {}
    if recipe_files:
        recipes, photos = [], {}
        for path in recipe_files:
            part = read_recipes(path)
            recipes += part
            photos.update(recipe_photos(path, part))  # refuses layer2 image ids outside the data folder
            roots.append(Path(path).resolve().parent)
        if not recipes:
            raise InputError(f"--recipes {', '.join(map(str, recipe_files))}: no recipes in the file(s); nothing to index")
        ids = [rec.get("id", i) for i, rec in enumerate(recipes)]
        titles = {str(i): rec.get("title") for i, rec in zip(ids, recipes)}
        res = retriever.add_recipes(recipes, ids=ids, batch_size=batch_size, show_progress=show_progress, on_error=on_error)
        catalog += recipe_rows([recipes[p] for p in res.positions], [ids[p] for p in res.positions], photos)
        counts.append(("recipes", len(res.positions), len(res.skipped)))
    if image_paths:
        images, found_in = image_files(image_paths, with_roots=True)
        if not images:
            raise InputError(f"--images {', '.join(map(str, image_paths))}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}); "
                             "nothing to index")
        ids = image_ids(images, found_in)
        folders = [p if p.is_dir() else p.parent for p in (Path(x).resolve() for x in image_paths)]
        owners, known = photo_owners(folders[0])
        res = retriever.add_images(images, ids=ids, batch_size=batch_size, show_progress=show_progress, on_error=on_error)
        catalog += image_rows([images[p] for p in res.positions], [ids[p] for p in res.positions], owners, {**known, **titles})
        roots += folders
        counts.append(("images", len(res.positions), len(res.skipped)))
    if all(n == 0 for _, n, _ in counts):
        raise InputError(f"every item was skipped as unreadable; {out} was not written")
    root = os.path.commonpath([str(x) for x in roots])
    retriever.save_index(out, catalog=catalog, catalog_root=root)  # titles and paths in the same atomic save (catalog.jsonl)
    return FilesReport(str(out), retriever.index_kind, counts)
