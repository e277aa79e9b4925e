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

import logging
import os
import threading
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from seje_sdk.backends.base import Session
from seje_sdk.backends.selection import select_backend
from seje_sdk.bundle import Bundle
from seje_sdk.embedder import EmbedResult, Embedder, _normalise
from seje_sdk.errors import InputError
from seje_sdk.index import SearchResult, check_ids
from seje_sdk.indexes import index_kind, load_indexes, new_index, save_indexes

log = logging.getLogger("seje")
MODALITIES = ("recipe", "image")


class Retriever:
    """Embeds images and recipes with a bundle's encoders and searches across modalities. Thread-safe."""

    def __init__(self, bundle: Bundle, backend: str, precision: str, sessions: dict[str, Session], index: str = "exact",
                 workers: int | None = None, fallbacks: Sequence[str] = (), tables: Any = None, bert: Any = None):
        self.bundle, self.backend, self.precision = bundle, backend, precision
        self.bert = bert  # the `bert` key-term ranker (seje_sdk.bert.BertRanker) for bundles that use it
        self.sessions, self.index_kind, self.fallbacks = sessions, index, list(fallbacks)
        self.tables = tables
        self._embedder = Embedder(bundle, sessions, tables, bert, workers)
        self._indexes: dict[str, Any] = {m: None for m in MODALITIES}
        self._lock = threading.Lock()
        self.live = None  # a LiveIndex once open_live() is called
        log.info("seje: %s %s on %s (bundle %s)", backend, precision, self.device, bundle.fingerprint[:12])

    # --- construction -----------------------------------------------------------------------
    @classmethod
    def load(cls, bundle: str | os.PathLike, backend: str = "auto", precision: str = "fp32", index: str = "exact",
             workers: int | None = None, threads: int = 0, verify: bool = True, cuda: Any = None) -> "Retriever":
        """Open a bundle. backend: auto (tensorrt > onnxruntime-cuda > onnxruntime), or one of them explicitly.

        An explicit backend that cannot run raises BackendError (BundleError when the bundle lacks that
        precision); under auto each failure is warned about and the next backend is tried
        (seje_sdk/backends/selection.py). `index` picks the kind add_* builds (seje_sdk.indexes.INDEX_KINDS).
        `cuda`: ONNX Runtime CUDA provider options, a dict or seje_sdk.backends.onnxruntime.CudaOptions
        (device_id, cudnn_conv_algo_search, gpu_mem_limit, arena_extend_strategy).

        >>> r = Retriever.load("bundle/", backend="onnxruntime", precision="int8")   # doctest: +SKIP
        """
        from seje_sdk.backends.onnxruntime import CudaOptions, require_onnxruntime
        from seje_sdk.terms import TermTables

        index_kind(index)  # an unknown index kind fails before the bundle loads, not at the first add
        require_onnxruntime()  # every backend runs the tagger on ONNX Runtime: fail first, naming the extra
        cuda = CudaOptions.coerce(cuda)
        b = bundle if isinstance(bundle, Bundle) else Bundle.load(bundle, verify=verify)
        tables = TermTables.load(b.tables_dir)
        chosen = select_backend(b, backend, precision, threads, cuda)
        return cls(b, chosen.backend, precision, chosen.sessions, index=index, workers=workers, fallbacks=chosen.fallbacks,
                   tables=tables, bert=chosen.bert)

    # --- description ------------------------------------------------------------------------
    @property
    def device(self) -> str:
        return self.sessions["image"].device

    @property
    def image_spec(self) -> Any:
        """How image queries are decoded; `r.image_spec = replace(r.image_spec, jpeg_draft=False)` decodes every JPEG pixel."""
        return self._embedder.image_spec

    @image_spec.setter
    def image_spec(self, spec: Any) -> None:
        self._embedder.image_spec = spec

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
            "text_encoder": self.bundle.text_encoder is not None,
        }

    def __repr__(self) -> str:
        return f"Retriever(bundle={str(self.bundle.path)!r}, backend={self.backend!r}, precision={self.precision!r}, device={self.device!r})"

    # --- embedding (seje_sdk/embedder.py) -------------------------------------------------
    def iter_image_batches(self, images: Iterable[Any], batch_size: int = 64, show_progress: bool = False,
                           on_error: str = "raise") -> Iterator[EmbedResult]:
        """Stream embeddings, one EmbedResult per batch, in constant memory (Embedder.iter_image_batches)."""
        return self._embedder.iter_image_batches(images, batch_size, show_progress, on_error)

    def embed_images(self, images: Iterable[Any], batch_size: int = 64, show_progress: bool = False,
                     on_error: str = "raise") -> np.ndarray | EmbedResult:
        """(n, d) float32 L2-normalised embeddings of paths, encoded bytes, PIL images or uint8 arrays.

        on_error="skip" returns an EmbedResult naming the skipped positions instead of raising on
        the first bad image (whose error names its batch position and path).

        >>> r.embed_images(["a.jpg", open("b.png", "rb").read()]).shape      # doctest: +SKIP
        (2, 1024)
        """
        return self._embedder.finish(list(self.iter_image_batches(images, batch_size, show_progress, on_error)), on_error)

    def embed_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """(n, d) embeddings of images already prepared by `seje_sdk.image.preprocess` ((n, 3, size, size) float32)."""
        return _normalise(self._embedder.run("image", {"pixels": np.asarray(pixels, np.float32)})["embedding"])

    def iter_recipe_batches(self, recipes: Iterable[Any], batch_size: int = 64, show_progress: bool = False,
                            on_error: str = "raise") -> Iterator[EmbedResult]:
        """Stream recipe embeddings, one EmbedResult per window of batches (sorted by length inside).

        Preprocessing (tokenising, the tagger, ranking, pooling) of the next batch runs in the
        worker pool while the recipe graph embeds the current one.

        >>> for part in r.iter_recipe_batches(json_lines_reader, batch_size=64): index.add(part.vectors, ...)  # doctest: +SKIP
        """
        return self._embedder.iter_recipe_batches(recipes, batch_size, show_progress, on_error)

    def embed_recipes(self, recipes: Iterable[Any], batch_size: int = 64, show_progress: bool = False,
                      on_error: str = "raise") -> np.ndarray | EmbedResult:
        """(n, d) float32 L2-normalised embeddings of recipes (layer1 dicts, dicts of string lists, or instruction lists).

        >>> r.embed_recipes([{"title": "Toast", "ingredients": ["bread"], "instructions": ["Toast it."]}]).shape  # doctest: +SKIP
        (1, 1024)
        """
        return self._embedder.finish(list(self.iter_recipe_batches(recipes, batch_size, show_progress, on_error)), on_error)

    def embed_texts(self, texts: str | Sequence[str], batch_size: int = 64) -> np.ndarray:
        """(n, d) embeddings of typed texts, in the image index's space (the bundle's text encoder, if any).

        >>> r.embed_texts(["grilled beet pancakes", "chicken curry"]).shape    # doctest: +SKIP
        (2, 1024)
        """
        return self._embedder.embed_texts(texts, batch_size)[0]

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

        `text`: one string or a list (the bundle's text encoder, else a title-only recipe; seje_sdk.text_query); the result's
        `unknown_words` lists, per query, the words outside the bundle's vocabulary (`substitutes`: those read as a known word).

        >>> hits = r.search(images=["photo.jpg"], k=3); hits[0]              # doctest: +SKIP
        [('recipe-42', 0.81), ('recipe-7', 0.64), ('recipe-3', 0.60)]
        >>> r.search(text="spicy chicken curry", k=3).unknown_words          # doctest: +SKIP
        [[]]
        """
        if sum(x is not None for x in (images, recipes, text)) != 1:
            raise InputError("search: pass exactly one of images=..., recipes=... or text=...")
        if text is not None:
            vectors, queries = self._embedder.embed_texts(text, batch_size)
            result = self.search_vectors(vectors, "image", k)
            result.unknown_words, result.substitutes = [q.unknown_words for q in queries], [q.substitutes for q in queries]
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

    def save_index(self, path: str | os.PathLike, catalog: Sequence[dict] | None = None,
                   catalog_root: str | os.PathLike | None = None) -> Path:
        """Save both indexes (whichever are non-empty) atomically into folder `path`, with optional catalog rows (titles, paths).

        >>> r.save_index("idx/"); Retriever.load("bundle/").load_index("idx/")   # doctest: +SKIP
        """
        with self._lock:
            indexes = {m: i for m, i in self._indexes.items() if i is not None and len(i)}
        return save_indexes(path, indexes, self.bundle.fingerprint, self.index_kind, catalog=catalog, catalog_root=catalog_root)

    def load_index(self, path: str | os.PathLike, mmap: bool = True) -> None:
        """Load indexes saved by save_index (memory-mapped); refuses ones built with another bundle (IndexMismatchError)."""
        loaded = load_indexes(path, self.bundle.fingerprint, mmap=mmap)
        with self._lock:
            self._indexes.update(loaded)

    # --- live updates (seje_sdk/live_index.py holds the logic) ---------------------------------
    def open_live(self, index_dir: str | os.PathLike, live_dir: str | os.PathLike | None = None):
        """Load `index_dir` writable: upserts and deletes are logged durably in `live_dir` (default <index_dir>.live).

        >>> r.open_live("idx/"); r.upsert("recipe", recipe, id="r9"); r.delete("image", "p.jpg")   # doctest: +SKIP
        """
        from seje_sdk.live_index import LiveIndex

        live = LiveIndex.open(live_dir or str(index_dir).rstrip("/\\") + ".live", index_dir, self.bundle.fingerprint,
                              self.bundle.embedding_dim)
        with self._lock:
            self._indexes.update(live.modalities)
            self.live = live
        return live

    def upsert(self, modality: str, item: Any, id: Any, recipe_id: Any = None) -> dict:
        """Embed one recipe or photo and add or replace it under `id`; returns the stored record once it is durable."""
        live = self._live()
        vector = (self.embed_recipes([item]) if modality == "recipe" else self.embed_images([item]))[0]
        title = item.get("title") if modality == "recipe" and isinstance(item, dict) else None
        return live.put(modality, id, vector, title=title, recipe_id=recipe_id)

    def delete(self, modality: str, id: Any) -> bool:
        """Remove one item from the live index (durably); False when it is not there."""
        return self._live().delete(modality, id)

    def _live(self):
        if self.live is None:
            raise InputError("no live index is open: call open_live(index_dir) first")
        return self.live

    def close(self) -> None:
        """Stop the decode workers and free the sessions' GPU streams and memory (also done at interpreter exit)."""
        self._embedder.close()
        if self.live is not None:
            self.live.close()
