"""The importer's on-disk staging table (SQLite): every checked row once, so that a million rows
never sit in memory, and every problem found, so that nothing is dropped silently.

Tables: recipes(n, id, text_hash, given, category, payload), photos(n, j, suffix, sha256, path),
keys(key, n) for the duplicate rule, folder_photos(path, stem) and referenced(path) for a photo
folder, problems(kind, where_, detail).
"""
from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Iterator

import numpy as np

from trainer.data.import_rows import ImportedRecipe

SCHEMA = """
CREATE TABLE recipes(n INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, text_hash TEXT, given TEXT, category TEXT,
                     payload TEXT);
CREATE TABLE photos(n INTEGER, j INTEGER, suffix TEXT, sha256 TEXT, path TEXT);
CREATE TABLE keys(key TEXT, n INTEGER);
CREATE TABLE folder_photos(path TEXT PRIMARY KEY, stem TEXT);
CREATE INDEX folder_photos_stem ON folder_photos(stem);
CREATE TABLE referenced(path TEXT PRIMARY KEY);
CREATE TABLE problems(kind TEXT, where_ TEXT, detail TEXT);
"""
_NUMBERED = re.compile(r"[_-]\d+$")


class Staging:
    """A staging database in `folder` (deleted with the importer's temporary output folder)."""

    def __init__(self, folder: Path) -> None:
        self.db = sqlite3.connect(folder / ".staging.sqlite")
        self.db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + SCHEMA)
        self.n = 0
        self.counts: Counter = Counter()

    def problem(self, kind: str, where: str, detail: str) -> None:
        self.counts[kind] += 1
        self.db.execute("INSERT INTO problems VALUES (?, ?, ?)", (kind, where, detail))

    def index_folder(self, paths: Iterator[Path]) -> None:
        """Remember a photo folder's files by stem ("pancakes_2.jpg" -> "pancakes") for rows without `images`."""
        self.db.executemany("INSERT INTO folder_photos VALUES (?, ?)",
                            ((str(p), _NUMBERED.sub("", p.stem)) for p in paths))

    def photos_named(self, recipe_id: str) -> list[str]:
        return [p for (p,) in self.db.execute("SELECT path FROM folder_photos WHERE stem = ? ORDER BY path",
                                              (recipe_id,))]

    def add(self, recipe: ImportedRecipe, where: str, staged: list[str | None]) -> bool:
        """Stage a checked recipe; False (and a problem) when its id was already used."""
        try:
            self.db.execute("INSERT INTO recipes VALUES (?, ?, ?, ?, ?, ?)", (
                self.n, recipe.id, recipe.text_hash(), recipe.partition, recipe.category,
                json.dumps([recipe.title, recipe.ingredients, recipe.instructions], ensure_ascii=False)))
        except sqlite3.IntegrityError:
            self.problem("duplicate id", where, f"id {recipe.id!r} was used by an earlier row (row skipped)")
            return False
        self.db.execute("INSERT INTO keys VALUES (?, ?)", ("t:" + recipe.text_hash(), self.n))
        for j, (photo, path) in enumerate(zip(recipe.photos, staged)):
            self.db.execute("INSERT INTO photos VALUES (?, ?, ?, ?, ?)", (self.n, j, photo.suffix, photo.sha256, path))
            self.db.execute("INSERT INTO keys VALUES (?, ?)", ("p:" + photo.sha256, self.n))
            if photo.path is not None:
                self.db.execute("INSERT OR IGNORE INTO referenced VALUES (?)", (str(photo.path),))
        self.n += 1
        return True

    def unreferenced_photos(self) -> Iterator[str]:
        yield from (p for (p,) in self.db.execute(
            "SELECT path FROM folder_photos WHERE path NOT IN (SELECT path FROM referenced) ORDER BY path"))

    def rows(self) -> Iterator[tuple[int, str, str | None, list]]:
        """(n, id, category, [title, ingredients, instructions]) in row order."""
        for n, rid, category, payload in self.db.execute("SELECT n, id, category, payload FROM recipes ORDER BY n"):
            yield n, rid, category, json.loads(payload)

    def photos_of(self, n: int) -> list[tuple[str, str]]:
        return list(self.db.execute("SELECT suffix, path FROM photos WHERE n = ? ORDER BY j", (n,)))

    def photo_counts(self) -> np.ndarray:
        """Usable photos per staged row (int32: 4 bytes a row)."""
        counts = np.zeros(self.n, dtype=np.int32)
        for n, k in self.db.execute("SELECT n, COUNT(*) FROM photos GROUP BY n"):
            counts[n] = k
        return counts

    def category_counts(self) -> Counter:
        return Counter(dict(self.db.execute("SELECT category, COUNT(*) FROM recipes WHERE category IS NOT NULL "
                                            "GROUP BY category")))

    def examples(self, kind: str, limit: int) -> list[str]:
        return [f"{w}: {d}" for w, d in self.db.execute(
            "SELECT where_, detail FROM problems WHERE kind = ? LIMIT ?", (kind, limit))]

    def all_problems(self) -> Iterator[dict]:
        for kind, where, detail in self.db.execute("SELECT kind, where_, detail FROM problems ORDER BY rowid"):
            yield {"kind": kind, "where": where, "detail": detail}

    def close(self) -> None:
        self.db.close()
