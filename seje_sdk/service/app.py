"""The FastAPI app: search and embed endpoints over one Retriever, with limits, metrics and the page.

The bundle and index load in a background thread after the server starts, so /health answers
at once and everything else says 503 until /ready does. Every error reaches the client as JSON
{"error": "..."} naming the input and what is wrong, never as a traceback.
"""
from __future__ import annotations

import asyncio
import io
import logging
import threading
import time
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any, Callable
from urllib.parse import quote

from fastapi import Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException

from seje_sdk.catalog import read_catalog
from seje_sdk.errors import InputError, SejeError
from seje_sdk.image import preprocess
from seje_sdk.retriever import Retriever
from seje_sdk.service.access import BodyRefused, install_access
from seje_sdk.service.batching import TARGET, Batcher, QueueFull
from seje_sdk.service.config import ServiceConfig
from seje_sdk.service.items import install_items
from seje_sdk.service.metrics import ServiceMetrics
from seje_sdk.service.page import docs_html, page_html
from seje_sdk.service.schemas import (EmbedOut, Hit, ImageTooLarge, RecipeEmbed, RecipeSearch, SearchOut,
                                      TextSearch, check_image_header)
from seje_sdk.version import __version__

log = logging.getLogger("seje.service")
DECODE_SLOTS = 4  # photos decoded at once (each request decodes its photos one after another)
Loader = Callable[[ServiceConfig], tuple[Retriever, dict]]


class ServiceState:
    """What the endpoints share: the loaded retriever, its batcher, the index catalog and sizes, or why loading failed."""

    def __init__(self, config: ServiceConfig):
        self.config = config
        self.retriever: Retriever | None = None
        self.batcher: Batcher | None = None
        self.catalog: dict = {}
        self.sizes: dict[str, int] = {}
        self.error: str | None = None
        self.owns_retriever = True
        self.live: Any = None  # the LiveIndex taking writes (None: read-only, `live_error` says why)
        self.live_error: str | None = None

    def index_sizes(self) -> dict[str, int]:
        """Items per modality now (live writes included)."""
        if self.live is not None:
            return {m: len(index) for m, index in self.live.modalities.items()}
        return self.sizes

    def row(self, modality: str, item_id: Any) -> dict:
        """The catalog row of an id (live writes included); {} when unknown."""
        catalog = self.live.catalog if self.live is not None else self.catalog
        return catalog.get((modality, str(item_id)), {})


def load_retriever(config: ServiceConfig) -> tuple[Retriever, dict]:
    """Open the bundle and the index folder (with its catalog) named by `config`."""
    retriever = Retriever.load(config.bundle, backend=config.backend, precision=config.precision)
    if config.index is None:
        return retriever, {}
    retriever.load_index(config.index)
    return retriever, read_catalog(config.index)


def create_app(config: ServiceConfig, loader: Loader = load_retriever, owns_retriever: bool = True,
               on_load_failure: Callable[[BaseException], None] | None = None) -> FastAPI:
    """The service app for `config`; `loader` opens the retriever (in a background thread once the server runs)."""
    state, metrics = ServiceState(config), ServiceMetrics()
    state.owns_retriever = owns_retriever

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        loading = threading.Thread(target=_load, args=(state, metrics, loader, on_load_failure), name="seje-load", daemon=True)
        loading.start()
        yield
        # uvicorn has stopped accepting and waited (at most grace_s) for in-flight requests; what the batcher still
        # holds gets a short extra moment, then the process exits (the worker thread is a daemon).
        await asyncio.to_thread(loading.join, 1.0)
        if state.batcher is not None:
            await asyncio.to_thread(state.batcher.stop, min(5.0, config.grace_s))
        if state.retriever is not None and state.owns_retriever:
            state.retriever.close()

    app = FastAPI(title="seje retrieval service", version=__version__, lifespan=lifespan,
                  description="Cross-modal food retrieval: a photo finds recipes, a recipe finds photos.",
                  docs_url=None, redoc_url=None, openapi_url="/openapi.json" if config.docs else None)
    app.state.seje, app.state.metrics = state, metrics
    _install_errors(app)
    _install_middleware(app, config, metrics)
    install_access(app, config)
    _install_routes(app, state, metrics)
    return app


def _load(state: ServiceState, metrics: ServiceMetrics, loader: Loader, on_failure) -> None:
    cfg = state.config
    try:
        retriever, catalog = loader(cfg)
        state.retriever, state.catalog = retriever, catalog
        state.sizes = dict(retriever.info()["index"])
        _open_live(state, retriever)
        state.batcher = Batcher(retriever, cfg.batch_items, cfg.max_wait_ms, cfg.max_queue, on_batch=metrics.observe_batch)
        metrics.ready.set(1)
        log.info("seje service ready: %s, index %s", retriever, state.sizes)
    except Exception as e:  # reported by /ready and the log; `seje serve` exits with it
        state.error = str(e) if isinstance(e, SejeError) else f"{type(e).__name__}: {e}"
        log.error("seje service: loading failed: %s", state.error)
        if on_failure is not None:
            on_failure(e)


def _open_live(state: ServiceState, retriever: Retriever) -> None:
    """Make the index writable (durable log beside it); on failure keep serving read-only and say why."""
    folder = state.config.live_folder()
    if folder is None:
        state.live_error = "the service runs without an index (--index)"
        return
    try:
        state.live = retriever.live or retriever.open_live(state.config.index, folder)
    except SejeError as e:
        state.live_error = str(e)
        log.warning("seje service: live updates are off: %s", e)


# --- errors -------------------------------------------------------------------------------------
def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            ctx = next(e.get("ctx", {}) for e in errors if e.get("type") == "json_invalid")
            return _error(400, f"malformed JSON body: {ctx.get('error', 'cannot parse it')}")
        where = [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in errors]
        return _error(422, "; ".join(f"{loc}: {msg}" for loc, msg in where), detail=[{"loc": l, "msg": m} for l, m in where])

    @app.exception_handler(ImageTooLarge)
    async def too_large(request: Request, exc: ImageTooLarge) -> JSONResponse:
        return _error(413, str(exc))

    @app.exception_handler(InputError)
    async def bad_input(request: Request, exc: InputError) -> JSONResponse:
        return _error(422, str(exc))

    @app.exception_handler(QueueFull)
    async def busy(request: Request, exc: QueueFull) -> JSONResponse:
        return JSONResponse({"error": f"busy: {exc}; retry shortly"}, status_code=503, headers={"Retry-After": "1"})


def _install_middleware(app: FastAPI, config: ServiceConfig, metrics: ServiceMetrics) -> None:
    @app.middleware("http")
    async def measure(request: Request, call_next):
        start = time.perf_counter()
        try:
            response = await call_next(request)
        except BodyRefused:  # BodyGuard answers it
            raise
        except Exception:  # a bug: log the traceback here, send the client one line
            log.exception("seje service: %s %s failed", request.method, request.url.path)
            response = _error(500, "internal error in the service (logged on the server); please report it")
        route = request.scope.get("route")
        metrics.observe_request(getattr(route, "path", "unmatched"), response.status_code, time.perf_counter() - start)
        return response


# --- endpoints ----------------------------------------------------------------------------------
def _install_routes(app: FastAPI, state: ServiceState, metrics: ServiceMetrics) -> None:
    cfg = state.config

    def running() -> Batcher:
        if state.error is not None:
            raise HTTPException(503, f"the service could not load: {state.error}")
        if state.batcher is None:
            raise HTTPException(503, "still loading the bundle and index; retry shortly", headers={"Retry-After": "1"})
        return state.batcher

    def check_k(k: int, target: str) -> None:
        size = state.index_sizes().get(target, 0)
        if size == 0:
            build = {"recipe": "`seje index build BUNDLE_DIR --recipes RECIPES_JSON --out INDEX_DIR`",
                     "image": "`seje index build BUNDLE_DIR --images IMAGE_DIR --out INDEX_DIR`"}[target]
            raise HTTPException(404, f"no {target} index is loaded: build one with {build}")
        if k > min(cfg.max_k, size):
            raise InputError(f"k={k} is too large: at most {min(cfg.max_k, size)} "
                             f"(the {target} index holds {size}, the service limit is {cfg.max_k})")

    def hits_out(query: str, k: int, hits: list[tuple[Any, float]], unknown_words: list[str] | None = None,
                 substitutes: dict[str, str] | None = None) -> SearchOut:
        target = TARGET["recipe" if query == "text" else query]
        out = []
        for rank, (item_id, score) in enumerate(hits, 1):
            row = state.row(target, item_id)
            thumb = f"/thumbnail?modality={target}&id={quote(str(item_id), safe='')}" if row.get("path") else None
            out.append(Hit(rank=rank, id=item_id, score=score, title=row.get("title"), thumbnail=thumb))
        return SearchOut(query=query, target=target, k=k, hits=out, unknown_words=unknown_words,
                         substitutes=substitutes or None)

    async def read_upload(upload: UploadFile, field: str = "image") -> tuple[bytes, int]:
        """The upload's bytes and decoded size in pixels (read from its header: nothing is decoded here)."""
        data = await upload.read(cfg.max_upload_bytes + 1)
        name = f"{field} ({upload.filename})" if upload.filename else field
        if len(data) > cfg.max_upload_bytes:
            raise HTTPException(413, f"{name}: over the {cfg.max_upload_bytes}-byte upload limit")
        return data, check_image_header(data, name, cfg.max_pixels)

    decode_slots = asyncio.Semaphore(DECODE_SLOTS)

    async def decode(data: bytes, name: str) -> Any:
        """Decode, resize and crop one photo in a worker thread (never in the encoder's queue); a request decodes
        its photos one at a time, so a request of huge photos holds one slot and light requests use the others."""
        async with decode_slots:
            return await asyncio.to_thread(preprocess, data, state.retriever.bundle.image_spec, name)

    async def answers(futures: list, names: list[str]) -> list[Any]:
        """Await one request's items; an item's InputError is re-raised naming that item."""
        out = []
        try:
            for future, name in zip(futures, names):
                try:
                    out.append(await future)
                except InputError as e:
                    raise InputError(f"{name}: {e}") from None
        finally:
            for future in futures:  # the client went away or an item failed: drop the rest from the queue
                future.cancel()
        return out

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(page_html())

    if cfg.docs:
        @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
        async def docs() -> HTMLResponse:
            return HTMLResponse(docs_html())

    @app.get("/health", summary="Liveness: the process answers")
    async def health() -> dict:
        return {"status": "ok"}

    @app.get("/ready", summary="Readiness: bundle and index loaded (503 until then)")
    async def ready() -> JSONResponse:
        if state.error is not None or state.batcher is None:
            status = "failed" if state.error else "loading"
            return JSONResponse({"status": status, "error": state.error}, status_code=503)
        info = state.retriever.info()
        return JSONResponse({"status": "ready", "backend": info["backend"], "precision": info["precision"],
                             "device": info["device"], "index": state.index_sizes(), "catalog": len(state.catalog),
                             "batching": {"batch_items": cfg.batch_items, "max_wait_ms": cfg.max_wait_ms},
                             "limits": {"max_k": cfg.max_k, "max_items": cfg.max_items, "max_upload_bytes": cfg.max_upload_bytes,
                                        "max_pixels": cfg.max_pixels, "max_request_pixels": cfg.max_request_pixels,
                                        "max_recipe_chars": cfg.max_recipe_chars},
                             "live": {"writable": state.live is not None, "error": state.live_error}})

    @app.get("/metrics", summary="Prometheus metrics (text format)")
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    @app.post("/search/image", response_model=SearchOut, summary="Top-k recipes for an uploaded food photo")
    async def search_image(image: UploadFile = File(...), k: int = Form(5, ge=1), batcher: Batcher = Depends(running)):
        check_k(k, "recipe")
        data, _ = await read_upload(image)
        pixels = await decode(data, "image")
        return hits_out("image", k, (await answers(batcher.enqueue("image", [pixels], k), ["image"]))[0])

    @app.post("/search/recipe", response_model=SearchOut, summary="Top-k photos for a recipe (JSON)")
    async def search_recipe(body: RecipeSearch, batcher: Batcher = Depends(running)):
        check_k(body.k, "image")
        plain = body.recipe.to_sdk(cfg.max_recipe_chars)
        return hits_out("recipe", body.k, (await answers(batcher.enqueue("recipe", [plain], body.k), ["recipe"]))[0])

    @app.post("/search/text", response_model=SearchOut, summary="Top-k photos for typed words")
    async def search_text(body: TextSearch, batcher: Batcher = Depends(running)):
        check_k(body.k, "image")
        from seje_sdk.text_query import bundle_text_queries

        query = bundle_text_queries(body.text, state.retriever.bundle, state.retriever.tables.vocab)[0]
        hits = (await answers(batcher.enqueue("text", [query.text], body.k), ["text"]))[0]
        return hits_out("text", body.k, hits, query.unknown_words, query.substitutes)

    @app.post("/embed/image", response_model=EmbedOut, summary="Embeddings of uploaded photos")
    async def embed_image(images: list[UploadFile] = File(...), batcher: Batcher = Depends(running)):
        if len(images) > cfg.max_items:
            raise HTTPException(413, f"{len(images)} images in one request, the limit is {cfg.max_items}")
        uploads = [await read_upload(f, f"images[{i}]") for i, f in enumerate(images)]
        pixels = sum(p for _, p in uploads)
        if pixels > cfg.max_request_pixels:  # the per-request budget, from the headers: nothing decoded yet
            raise HTTPException(413, f"{len(uploads)} images of {pixels} pixels in all, the per-request limit is "
                                     f"{cfg.max_request_pixels}; send fewer or smaller images per request")
        decoded = [await decode(d, f"images[{i}]") for i, (d, _) in enumerate(uploads)]
        futures = batcher.enqueue("image", decoded)
        vectors = await answers(futures, [f"images[{i}]" for i in range(len(uploads))])
        return EmbedOut(dim=len(vectors[0]), embeddings=[v.tolist() for v in vectors])

    @app.post("/embed/recipe", response_model=EmbedOut, summary="Embeddings of recipes (JSON)")
    async def embed_recipe(body: RecipeEmbed, batcher: Batcher = Depends(running)):
        if len(body.recipes) > cfg.max_items:
            raise HTTPException(413, f"{len(body.recipes)} recipes in one request, the limit is {cfg.max_items}")
        plain = [r.to_sdk(cfg.max_recipe_chars) for r in body.recipes]
        vectors = await answers(batcher.enqueue("recipe", plain), [f"recipes[{i}]" for i in range(len(plain))])
        return EmbedOut(dim=len(vectors[0]), embeddings=[v.tolist() for v in vectors])

    @app.get("/thumbnail", summary="A small JPEG of an indexed item's photo (only paths the index catalog lists)")
    def thumbnail(modality: str, id: str, size: int = 160) -> Response:
        row = state.row(modality, id)
        if not row.get("path"):
            raise HTTPException(404, f"no photo for {modality} {id!r} in the index catalog")
        try:
            data = _thumbnail(row["path"], max(16, min(size, 512)))
        except OSError as e:
            raise HTTPException(404, f"the photo of {modality} {id!r} cannot be read ({type(e).__name__})") from None
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})

    install_items(app, state, running, read_upload, decode)


@lru_cache(maxsize=2048)
def _thumbnail(path: str, size: int) -> bytes:
    """A JPEG no larger than size x size of the photo at `path` (a catalog path, never one a client names)."""
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("RGB")
        img.thumbnail((size, size))
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=85)
    return buf.getvalue()
