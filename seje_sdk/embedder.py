"""Embedding in batches: decoding or recipe preparation one batch ahead in a thread pool, the encoders, L2 norm.

`Retriever` delegates its embed_* and iter_*_batches methods here; the backend sessions come
from seje_sdk.backends.selection. Recipes are length-bucketed within windows of BUCKET_WINDOW
batches (less padding for the LSTMs); results keep input order.

Example:
    >>> embedder = Embedder(bundle, sessions, tables)                         # doctest: +SKIP
    >>> next(embedder.iter_image_batches(["a.jpg"], batch_size=64)).vectors.shape   # doctest: +SKIP
    (1, 1024)
"""
from __future__ import annotations

import collections
import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import numpy as np
from PIL import Image

from seje_sdk.backends.base import Session
from seje_sdk.bundle import Bundle
from seje_sdk.errors import InputError
from seje_sdk.image import load_pixels, stack_pixels
from seje_sdk.recipe import check_known_tokens, parse_recipe, recipe_inputs
from seje_sdk.sentences import SentenceVectors, SlotEncoder, has_sentence_graph
from seje_sdk.text import split_sentences

BUCKET_WINDOW = 8  # recipe batches sorted by length together


@dataclass
class EmbedResult:
    """Embeddings under on_error="skip": `vectors` (m, d) for the inputs at `positions`; `skipped` = [(position, reason)].

    >>> res = r.embed_images(["a.jpg", "broken.jpg"], on_error="skip")    # doctest: +SKIP
    >>> res.positions, res.skipped                                         # doctest: +SKIP
    ([0], [(1, 'images[1] (broken.jpg): cannot decode image (...)')])
    """

    vectors: np.ndarray
    positions: list[int]
    skipped: list[tuple[int, str]] = field(default_factory=list)


def _batches(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    it = iter(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def _length_key(recipe: Any, max_sentences: int, max_tokens: int) -> tuple[int, int]:
    """Cheap proxy of a recipe's padded size (sentences, longest sentence in words), capped as the encoder caps them."""
    sentences = split_sentences(recipe.instructions)
    return min(len(sentences), max_sentences), min(max([len(s.split()) for s in sentences] + [0]), max_tokens)


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


class Embedder:
    """A bundle's encoders run over batches of images or recipes, with a decode/prepare pool. Thread-safe."""

    def __init__(self, bundle: Bundle, sessions: dict[str, Session], tables: Any, bert: Any = None, workers: int | None = None):
        self.bundle, self.sessions, self.tables, self.bert = bundle, sessions, tables, bert
        self.image_spec = bundle.image_spec  # decode settings for image queries (jpeg_draft: docs/runtimes.md)
        self._text, self._text_lock = None, threading.Lock()  # the text encoder session, opened at the first text query
        self.slots = self._sentence_side(bundle)  # MiniLM vectors or slots; None: skip-instructions ids
        self._pool = ThreadPoolExecutor(max_workers=workers or min(4, os.cpu_count() or 1), thread_name_prefix="seje-decode")

    def _sentence_side(self, bundle: Bundle) -> SentenceVectors | SlotEncoder | None:
        """MiniLM bundles: the sentence graph run on length buckets (or, exported before the split, word-piece slots)."""
        if has_sentence_graph(bundle):
            return SentenceVectors.from_bundle(bundle, lambda feeds: self.run("sentence", feeds))
        return SlotEncoder.from_bundle(bundle)

    def run(self, role: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run an encoder, splitting batches larger than an engine profile allows."""
        session = self.sessions[role]
        n = len(next(iter(feeds.values())))
        step = session.max_batch or n
        if step >= n:
            return session.run(feeds)
        parts = [session.run({k: v[i : i + step] for k, v in feeds.items()}) for i in range(0, n, step)]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def iter_image_batches(self, images: Iterable[Any], batch_size: int = 64, show_progress: bool = False,
                           on_error: str = "raise") -> Iterator[EmbedResult]:
        """Stream embeddings: one EmbedResult per batch (positions count from the start of `images`).

        Decoding runs in a thread pool one batch ahead of inference, so a generator of a million
        paths is embedded in constant memory.

        >>> for part in r.iter_image_batches(path_generator, batch_size=256): save(part.vectors)   # doctest: +SKIP
        """
        _check_options(batch_size, on_error)
        if isinstance(images, (str, bytes, bytearray, os.PathLike, Image.Image)) or (isinstance(images, np.ndarray) and images.ndim < 4):
            raise InputError(f"images: pass a list of images (got one {type(images).__name__}); e.g. embed_images([path])")
        spec = self.image_spec

        def decode(pos: int, src: Any):
            try:
                return pos, load_pixels(src, spec, where=f"images[{pos}]")
            except InputError as e:
                return pos, e

        def submit(chunk):
            return [self._pool.submit(decode, pos, src) for pos, src in chunk]

        chunks = _batches(enumerate(images), batch_size)
        with _progress(show_progress, images, "images") as bar:
            pending = submit(next(chunks, []))
            while pending:
                results = [f.result() for f in pending]
                pending = submit(next(chunks, []))  # decode the next batch while this one runs
                part = EmbedResult(np.zeros((0, self.bundle.embedding_dim), np.float32), [])
                for pos, res in results:
                    if isinstance(res, InputError):
                        if on_error == "raise":
                            for f in pending:
                                f.cancel()
                            raise res
                        part.skipped.append((pos, str(res)))
                    else:
                        part.positions.append(pos)
                if part.positions:
                    pixels = stack_pixels([res for _, res in results if not isinstance(res, InputError)])
                    part.vectors = _normalise(self.run("image", {"pixels": pixels})["embedding"])
                bar.update(len(results))
                yield part

    def iter_recipe_batches(self, recipes: Iterable[Any], batch_size: int = 64, show_progress: bool = False,
                            on_error: str = "raise") -> Iterator[EmbedResult]:
        """Stream recipe embeddings, one EmbedResult per window of BUCKET_WINDOW batches (sorted by length inside).

        Preprocessing (tokenising, the tagger, ranking, pooling) of the next batch runs in the
        worker pool while the recipe graph embeds the current one.

        >>> for part in r.iter_recipe_batches(json_lines_reader, batch_size=64): index.add(part.vectors, ...)  # doctest: +SKIP
        """
        _check_options(batch_size, on_error)
        if isinstance(recipes, (dict, str, bytes)):
            raise InputError(f"recipes: pass a list of recipes (got one {type(recipes).__name__}); e.g. embed_recipes([recipe])")
        limits, tagger = self.bundle.text_limits, self.sessions["tagger"]

        def tagger_fn(tokens: np.ndarray, lengths: np.ndarray) -> np.ndarray:
            return tagger.run({"tokens": tokens, "lengths": lengths})["logits"]

        def prepare(batch: list[Any]) -> dict[str, np.ndarray]:
            return recipe_inputs(batch, self.tables, limits.max_sentences, limits.max_tokens, tagger_fn,
                                 ranker=self.bundle.ranker, bert_fn=self.bert, title_terms=self.bundle.title_terms,
                                 slots=self.slots)

        # One batch of lookahead: when batch k starts on the graph, batch k+1 is already queued.
        steps = ((part, rows, self._pool.submit(prepare, batch) if rows is not None else None)
                 for part, rows, batch in self._recipe_steps(recipes, batch_size, on_error))
        queue: collections.deque = collections.deque()
        with _progress(show_progress, recipes, "recipes") as bar:
            while True:
                while sum(rows is not None for _, rows, _ in queue) < 2 and (step := next(steps, None)) is not None:
                    queue.append(step)
                if not queue:
                    return
                part, rows, prepared = queue.popleft()
                if rows is None:  # the window is complete
                    bar.update(len(part.positions) + len(part.skipped))
                    yield part
                else:
                    part.vectors[rows] = _normalise(self.run("recipe", prepared.result())["embedding"])

    def _recipe_steps(self, recipes: Iterable[Any], batch_size: int, on_error: str
                      ) -> Iterator[tuple[EmbedResult, list[int] | None, list[Any]]]:
        """(part, rows, batch) per length-sorted batch of a window, then (part, None, []) when the window is done.

        Length bucketing: each window of BUCKET_WINDOW batches is sorted by padded size, so the LSTMs
        run on batches of similar sentence counts and lengths (less padding); results keep input order.
        """
        limits = self.bundle.text_limits
        for window in _batches(enumerate(recipes), batch_size * BUCKET_WINDOW):
            part, good = EmbedResult(np.zeros((0, self.bundle.embedding_dim), np.float32), []), []
            for pos, obj in window:
                where = f"recipes[{pos}]" + (f" (id {obj['id']})" if isinstance(obj, dict) and "id" in obj else "")
                try:
                    recipe = parse_recipe(obj, where)
                    check_known_tokens(recipe, self.tables.vocab, where, self.bundle.title_terms)
                    good.append(recipe)
                    part.positions.append(pos)
                except InputError as e:
                    if on_error == "raise":
                        raise
                    part.skipped.append((pos, str(e)))
            part.vectors = np.empty((len(good), self.bundle.embedding_dim), np.float32)
            order = sorted(range(len(good)), key=lambda j: _length_key(good[j], limits.max_sentences, limits.max_tokens))
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                yield part, rows, [good[j] for j in rows]
            yield part, None, []

    def embed_texts(self, texts: Any, batch_size: int = 64) -> tuple[np.ndarray, list[Any]]:
        """(n, d) vectors of typed texts and their TextQuery (words, unknown words).

        Through the bundle's text encoder when it has one, else as title-only recipes through the
        recipe graph (docs/free-text.md says which route measured better for which query).
        """
        from seje_sdk.text_query import MAX_QUERY_TOKENS, TextEncoderSession, bundle_text_queries

        entry = self.bundle.text_encoder
        queries = bundle_text_queries(texts, self.bundle, self.tables.vocab)
        if entry is None:
            return self.finish(list(self.iter_recipe_batches([q.recipe for q in queries], batch_size)), "raise"), queries
        with self._text_lock:
            if self._text is None:
                self._text = TextEncoderSession(self.bundle.file(entry["model"], "text_encoder model"), self.tables.vocab,
                                                entry.get("max_tokens", MAX_QUERY_TOKENS))
        texts = [q.model_text for q in queries]
        return np.concatenate([self._text(texts[s:s + batch_size]) for s in range(0, len(texts), batch_size)]), queries

    def finish(self, parts: list[EmbedResult], on_error: str) -> np.ndarray | EmbedResult:
        vectors = [p.vectors for p in parts if len(p.vectors)]
        vectors = np.concatenate(vectors) if vectors else np.zeros((0, self.bundle.embedding_dim), np.float32)
        if on_error == "skip":
            return EmbedResult(vectors, [i for p in parts for i in p.positions], [s for p in parts for s in p.skipped])
        return vectors

    def close(self) -> None:
        """Stop the decode workers and free the sessions' GPU streams and memory."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        for session in self.sessions.values():
            getattr(session, "close", lambda: None)()


def _check_options(batch_size: int, on_error: str) -> None:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size must be a positive int, got {batch_size!r}")
    if on_error not in ("raise", "skip"):
        raise InputError(f"on_error must be 'raise' or 'skip', got {on_error!r}")


def _progress(show: bool, items: Any, unit: str):
    from seje_sdk.progress import progress_bar

    total = len(items) if hasattr(items, "__len__") else None
    return progress_bar(total=total, unit=f" {unit}", disable=not show, desc=f"embed {unit}")
