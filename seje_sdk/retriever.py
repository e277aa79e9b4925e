"""`Retriever`: embed food images and recipes with an exported bundle, index them, search across modalities.

Example:
    >>> from seje_sdk import Retriever
    >>> r = Retriever.load("bundle/")                                     # doctest: +SKIP
    >>> r.add_recipes(recipes, ids=[rec["id"] for rec in recipes])        # doctest: +SKIP
    >>> r.search(images=["photo.jpg"], k=5)[0]                            # doctest: +SKIP
    [('000018c8a5', 0.83), ...]
    >>> r.info()["device"]                                                # doctest: +SKIP
    'cpu'
"""
from __future__ import annotations

import collections
import itertools
import logging
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
from PIL import Image

from seje_sdk.backends.base import AUTO_ORDER, Session, check_io, open_session
from seje_sdk.bundle import Bundle
from seje_sdk.errors import BackendError, BundleError, InputError, SejeError
from seje_sdk.image import preprocess
from seje_sdk.index import SearchResult, check_ids, load_indexes, new_index, save_indexes
from seje_sdk.recipe import check_known_tokens, parse_recipe, recipe_inputs
from seje_sdk.text import split_sentences

log = logging.getLogger("seje")
MODALITIES = ("recipe", "image")
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


class Retriever:
    """Embeds images and recipes with a bundle's encoders and searches across modalities. Thread-safe."""

    def __init__(self, bundle: Bundle, backend: str, precision: str, sessions: dict[str, Session], index: str = "exact",
                 workers: int | None = None, fallbacks: Sequence[str] = (), tables: Any = None, bert: Any = None):
        self.bundle, self.backend, self.precision = bundle, backend, precision
        self.bert = bert  # the `bert` key-term ranker (seje_sdk.bert.BertRanker) for bundles that use it
        self.sessions, self.index_kind, self.fallbacks = sessions, index, list(fallbacks)
        self.tables = tables
        self._pool = ThreadPoolExecutor(max_workers=workers or min(4, os.cpu_count() or 1), thread_name_prefix="seje-decode")
        self._indexes: dict[str, Any] = {m: None for m in MODALITIES}
        self._lock = threading.Lock()
        log.info("seje: %s %s on %s (bundle %s)", backend, precision, self.device, bundle.fingerprint[:12])

    # --- construction -----------------------------------------------------------------------
    @classmethod
    def load(cls, bundle: str | os.PathLike, backend: str = "auto", precision: str = "fp32", index: str = "exact",
             workers: int | None = None, threads: int = 0, verify: bool = True, cuda: Any = None) -> "Retriever":
        """Open a bundle. backend: auto (tensorrt > onnxruntime-cuda > onnxruntime), or one of them explicitly.

        An explicit backend that cannot run raises BackendError; under auto each failure is warned about
        and the next backend is tried. `index` picks the index kind built by add_*: exact, exact-fp16, hnsw, ivfpq.
        `cuda`: ONNX Runtime CUDA provider options, a dict or seje_sdk.backends.onnxruntime.CudaOptions
        (device_id, cudnn_conv_algo_search, gpu_mem_limit, arena_extend_strategy).

        >>> r = Retriever.load("bundle/", backend="onnxruntime", precision="int8")   # doctest: +SKIP
        """
        from seje_sdk.backends.onnxruntime import CudaOptions, require_onnxruntime
        from seje_sdk.terms import TermTables

        require_onnxruntime()  # every backend runs the tagger on ONNX Runtime: fail first, naming the extra
        cuda = CudaOptions.coerce(cuda)
        b = bundle if isinstance(bundle, Bundle) else Bundle.load(bundle, verify=verify)
        tables = TermTables.load(b.tables_dir)
        candidates = AUTO_ORDER if backend == "auto" else (backend,)
        fallbacks: list[str] = []
        for name in candidates:
            try:
                sessions = cls._open_all(b, name, precision, threads, cuda)
            except SejeError as e:
                if backend != "auto" or name == candidates[-1]:
                    raise
                fallbacks.append(str(e))
                if cls._worth_warning(name, b):
                    warnings.warn(f"seje: backend {name} cannot run, falling back ({e})", RuntimeWarning, stacklevel=2)
                    log.warning("seje: backend %s cannot run, falling back (%s)", name, e)
                continue
            bert = cls._open_bert(b, name, precision, threads)
            return cls(b, name, precision, sessions, index=index, workers=workers, fallbacks=fallbacks, tables=tables,
                       bert=bert)
        raise AssertionError("unreachable")

    @staticmethod
    def _open_all(b: Bundle, name: str, precision: str, threads: int, cuda: Any = None) -> dict[str, Session]:
        if name == "tensorrt" and not b.precisions("tensorrt"):
            raise BackendError(f"tensorrt: no engines in the bundle ({b.skipped_reason('tensorrt')})")
        sessions = {role: open_session(b, name, precision, role, threads, cuda) for role in ("image", "recipe")}
        # The tagger's argmax decides which words are key terms: keep it at fp32 so the term
        # feature equals training's exactly; it is tiny, so ORT CPU/CUDA is fine even under TensorRT.
        tagger_backend = "onnxruntime-cuda" if name == "onnxruntime-cuda" else "onnxruntime"
        sessions["tagger"] = open_session(b, tagger_backend, "fp32", "tagger", threads, cuda)
        for role, session in sessions.items():
            check_io(role, session)
        return sessions

    @staticmethod
    def _open_bert(b: Bundle, name: str, precision: str, threads: int) -> Any:
        """The bundle's `bert` ranker (tokenizers + ranker.onnx, int8 graph for precision int8), or None for tfidf/textrank."""
        if b.ranker != "bert":
            return None
        from seje_sdk.bert import BertRanker

        device = "cuda" if name == "onnxruntime-cuda" else "cpu"
        return BertRanker.from_bundle(b, "int8" if precision == "int8" else "fp32", device, threads)

    @staticmethod
    def _worth_warning(name: str, b: Bundle) -> bool:
        """Warn loudly when a GPU runtime is installed (and the bundle has its files) but failed; quiet on CPU installs."""
        if name == "tensorrt":
            import importlib.util

            return bool(b.precisions("tensorrt")) and importlib.util.find_spec("tensorrt") is not None
        if name == "onnxruntime-cuda":
            from seje_sdk.backends.onnxruntime import available_providers

            return "CUDAExecutionProvider" in available_providers()
        return True

    # --- description ------------------------------------------------------------------------
    @property
    def device(self) -> str:
        return self.sessions["image"].device

    def info(self) -> dict[str, Any]:
        """What is actually running: backend, precision, device, providers per encoder, bundle, index sizes."""
        b = self.bundle
        return {
            "backend": self.backend,
            "precision": self.precision,
            "device": self.device,
            "providers": {role: list(s.providers) for role, s in self.sessions.items()},
            "bundle": str(b.path),
            "fingerprint": b.fingerprint,
            "embedding_dim": b.embedding_dim,
            "seje_version": b.seje_version,
            "ranker": b.ranker,
            "image_size": b.image_spec.size,
            "variants": {name: b.precisions(name) for name in ("onnxruntime", "tensorrt")},
            "fallbacks": self.fallbacks,
            "index": {m: (len(i) if i is not None else 0) for m, i in self._indexes.items()},
            "index_kind": self.index_kind,
        }

    def __repr__(self) -> str:
        return f"Retriever(bundle={str(self.bundle.path)!r}, backend={self.backend!r}, precision={self.precision!r}, device={self.device!r})"

    # --- embedding --------------------------------------------------------------------------
    def _run(self, role: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
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
        spec = self.bundle.image_spec

        def decode(pos: int, src: Any):
            try:
                return pos, preprocess(src, spec, where=f"images[{pos}]")
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
                    pixels = np.stack([res for _, res in results if not isinstance(res, InputError)])
                    part.vectors = _normalise(self._run("image", {"pixels": pixels})["embedding"])
                bar.update(len(results))
                yield part

    def embed_images(self, images: Iterable[Any], batch_size: int = 64, show_progress: bool = False,
                     on_error: str = "raise") -> np.ndarray | EmbedResult:
        """(n, d) float32 L2-normalised embeddings of paths, encoded bytes, PIL images or uint8 arrays.

        on_error="skip" returns an EmbedResult naming the skipped positions instead of raising on
        the first bad image (whose error names its batch position and path).

        >>> r.embed_images(["a.jpg", open("b.png", "rb").read()]).shape      # doctest: +SKIP
        (2, 1024)
        """
        return self._finish(list(self.iter_image_batches(images, batch_size, show_progress, on_error)), on_error)

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
                                 ranker=self.bundle.ranker, bert_fn=self.bert, title_terms=self.bundle.title_terms)

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
                    part.vectors[rows] = _normalise(self._run("recipe", prepared.result())["embedding"])

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

    def embed_recipes(self, recipes: Iterable[Any], batch_size: int = 64, show_progress: bool = False,
                      on_error: str = "raise") -> np.ndarray | EmbedResult:
        """(n, d) float32 L2-normalised embeddings of recipes (layer1 dicts, dicts of string lists, or instruction lists).

        >>> r.embed_recipes([{"title": "Toast", "ingredients": ["bread"], "instructions": ["Toast it."]}]).shape  # doctest: +SKIP
        (1, 1024)
        """
        return self._finish(list(self.iter_recipe_batches(recipes, batch_size, show_progress, on_error)), on_error)

    def _finish(self, parts: list[EmbedResult], on_error: str) -> np.ndarray | EmbedResult:
        vectors = [p.vectors for p in parts if len(p.vectors)]
        vectors = np.concatenate(vectors) if vectors else np.zeros((0, self.bundle.embedding_dim), np.float32)
        if on_error == "skip":
            return EmbedResult(vectors, [i for p in parts for i in p.positions], [s for p in parts for s in p.skipped])
        return vectors

    # --- index ------------------------------------------------------------------------------
    def _index(self, modality: str, create: bool = False):
        with self._lock:
            if self._indexes[modality] is None and create:
                self._indexes[modality] = new_index(self.index_kind, self.bundle.embedding_dim, self.bundle.fingerprint, modality)
            return self._indexes[modality]

    def _add(self, modality: str, items: list[Any], ids: Sequence[Any] | None, batch_size: int, show_progress: bool,
             on_error: str) -> EmbedResult:
        """Embed `items`, then add them in one step: a bad item (under on_error="raise") leaves the index untouched."""
        index = self._index(modality, create=True)
        if ids is None:
            ids = [len(index) + p for p in range(len(items))]
        ids = check_ids(ids, len(items), index._id_set)  # before the expensive embedding: count, type, uniqueness
        embed = self.embed_recipes if modality == "recipe" else self.embed_images
        res = embed(items, batch_size, show_progress, on_error)
        if not isinstance(res, EmbedResult):
            res = EmbedResult(res, list(range(len(res))))
        if res.positions:
            index.add(res.vectors, [ids[p] for p in res.positions])
        return res

    def add_recipes(self, recipes: Sequence[Any], ids: Sequence[Any] | None = None, batch_size: int = 64,
                    show_progress: bool = False, on_error: str = "raise") -> EmbedResult:
        """Embed recipes and add them to the recipe index (searched by images); ids default to each dict's "id", else 0, 1, ...

        >>> r.add_recipes(layer1[:1000], ids=[x["id"] for x in layer1[:1000]])   # doctest: +SKIP
        """
        recipes = list(recipes)
        if ids is None and recipes and all(isinstance(x, dict) and "id" in x for x in recipes):
            ids = [x["id"] for x in recipes]
        return self._add("recipe", recipes, ids, batch_size, show_progress, on_error)

    def add_images(self, images: Sequence[Any], ids: Sequence[Any] | None = None, batch_size: int = 64,
                   show_progress: bool = False, on_error: str = "raise") -> EmbedResult:
        """Embed images and add them to the image index (searched by recipes); ids default to the paths for path inputs.

        >>> r.add_images(["photos/1.jpg", "photos/2.jpg"])                    # doctest: +SKIP
        """
        images = list(images)
        if ids is None and images and all(isinstance(x, (str, os.PathLike)) for x in images):
            ids = [str(x) for x in images]
        return self._add("image", images, ids, batch_size, show_progress, on_error)

    def search(self, images: Sequence[Any] | None = None, recipes: Sequence[Any] | None = None, k: int = 5,
               batch_size: int = 64, on_error: str = "raise", text: str | Sequence[str] | None = None) -> SearchResult:
        """Images -> top-k recipes, recipes or typed text -> top-k images. Iterate for [(id, score)] per query.

        `text`: one string or a list (each a title-only recipe, seje_sdk.text_query); the result's
        `unknown_words` lists, per query, the words outside the bundle's vocabulary.

        >>> hits = r.search(images=["photo.jpg"], k=3); hits[0]              # doctest: +SKIP
        [('recipe-42', 0.81), ('recipe-7', 0.64), ('recipe-3', 0.60)]
        >>> r.search(text="spicy chicken curry", k=3).unknown_words          # doctest: +SKIP
        [[]]
        """
        if sum(x is not None for x in (images, recipes, text)) != 1:
            raise InputError("search: pass exactly one of images=..., recipes=... or text=...")
        if text is not None:
            from seje_sdk.text_query import text_queries

            queries = text_queries(text, self.tables.vocab, self.bundle.title_terms)
            result = self.search_vectors(self.embed_recipes([q.recipe for q in queries], batch_size), "image", k)
            result.unknown_words = [q.unknown_words for q in queries]
            return result
        if images is not None:
            target, emb = "recipe", self.embed_images(images, batch_size, on_error=on_error)
        else:
            target, emb = "image", self.embed_recipes(recipes, batch_size, on_error=on_error)
        return self.search_vectors(emb, target, k)

    def search_vectors(self, queries: np.ndarray | EmbedResult, target: str, k: int = 5,
                       fingerprint: str | None = None) -> SearchResult:
        """Search the `target` index ("recipe" or "image") with precomputed embeddings of this bundle."""
        res = queries if isinstance(queries, EmbedResult) else EmbedResult(np.asarray(queries), list(range(len(queries))))
        index = self._index(target)
        if index is None:
            raise InputError(f"the {target} index is empty: call add_{target}s(...) or load_index(...) first")
        result = index.search(res.vectors, k, fingerprint=fingerprint or self.bundle.fingerprint)
        result.positions, result.skipped = list(res.positions), list(res.skipped)
        return result

    def save_index(self, path: str | os.PathLike, catalog: Sequence[dict] | None = None) -> Path:
        """Save both indexes (whichever are non-empty) atomically into folder `path`, with optional catalog rows (titles, paths).

        >>> r.save_index("idx/"); Retriever.load("bundle/").load_index("idx/")   # doctest: +SKIP
        """
        with self._lock:
            indexes = {m: i for m, i in self._indexes.items() if i is not None and len(i)}
        return save_indexes(path, indexes, self.bundle.fingerprint, self.index_kind, catalog=catalog)

    def load_index(self, path: str | os.PathLike, mmap: bool = True) -> None:
        """Load indexes saved by save_index (memory-mapped); refuses ones built with another bundle (IndexMismatchError)."""
        loaded = load_indexes(path, self.bundle.fingerprint, mmap=mmap)
        with self._lock:
            self._indexes.update(loaded)

    def close(self) -> None:
        """Stop the decode workers and free the sessions' GPU streams and memory (also done at interpreter exit)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        for session in self.sessions.values():
            getattr(session, "close", lambda: None)()


def _check_options(batch_size: int, on_error: str) -> None:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size must be a positive int, got {batch_size!r}")
    if on_error not in ("raise", "skip"):
        raise InputError(f"on_error must be 'raise' or 'skip', got {on_error!r}")


def _progress(show: bool, items: Any, unit: str):
    from tqdm import tqdm

    total = len(items) if hasattr(items, "__len__") else None
    return tqdm(total=total, unit=f" {unit}", disable=not show, desc=f"embed {unit}")
