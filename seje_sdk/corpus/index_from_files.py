"""Build a Retriever index folder from recipe files and image files or folders, with its catalog.

What `seje index build --recipes/--images` does: embed the recipes (searched by images) and the
images (searched by recipes) with a loaded Retriever, add them under their ids (a recipe's "id",
else its position; an image's path), and save both indexes with catalog.jsonl rows (recipe titles
and, through a Recipe1M layer2.json beside the recipe file, a photo path; image paths) in one
atomic save. For corpora that do not fit in memory, embed shards and use index_from_shards.

Example:
    >>> r = Retriever.load("bundle/", index="exact")                                    # doctest: +SKIP
    >>> build_from_files(r, "idx/", recipe_files=["layer1.json"], image_paths=["photos/"]).counts   # doctest: +SKIP
    [('recipes', 1000, 0), ('images', 800, 2)]
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence

from seje_sdk.catalog import image_rows, recipe_photos, recipe_rows
from seje_sdk.corpus.reader import IMAGE_SUFFIXES, image_files, read_recipes
from seje_sdk.errors import InputError


@dataclass(frozen=True)
class FilesReport:
    """Where the index went, its kind, and (what, items indexed, items skipped) per modality."""

    out: str
    kind: str
    counts: list[tuple[str, int, int]]


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
    counts, catalog = [], []
    if recipe_files:
        recipes, photos = [], {}
        for path in recipe_files:
            part = read_recipes(path)
            recipes += part
            photos.update(recipe_photos(path, part))
        if not recipes:
            raise InputError(f"--recipes {', '.join(map(str, recipe_files))}: no recipes in the file(s); nothing to index")
        ids = [rec.get("id", i) for i, rec in enumerate(recipes)]
        res = retriever.add_recipes(recipes, ids=ids, batch_size=batch_size, show_progress=show_progress, on_error=on_error)
        catalog += recipe_rows([recipes[p] for p in res.positions], [ids[p] for p in res.positions], photos)
        counts.append(("recipes", len(res.positions), len(res.skipped)))
    if image_paths:
        images = image_files(image_paths)
        if not images:
            raise InputError(f"--images {', '.join(map(str, image_paths))}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}); "
                             "nothing to index")
        res = retriever.add_images(images, batch_size=batch_size, show_progress=show_progress, on_error=on_error)
        kept = [images[p] for p in res.positions]
        catalog += image_rows(kept, [str(p) for p in kept])
        counts.append(("images", len(res.positions), len(res.skipped)))
    if all(n == 0 for _, n, _ in counts):
        raise InputError(f"every item was skipped as unreadable; {out} was not written")
    retriever.save_index(out, catalog=catalog)  # titles and paths in the same atomic save (catalog.jsonl)
    return FilesReport(str(out), retriever.index_kind, counts)
