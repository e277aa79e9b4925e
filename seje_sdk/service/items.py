"""Live updates over HTTP: PUT/DELETE/GET /items/{modality}/{id} on the service's LiveIndex.

A PUT embeds its recipe or photo through the batcher (like a search), then appends the write to
the durable log (seje_sdk/live_index.py) in a worker thread; the 200 comes only after the log's
fsync, and a search sent after it sees the item. Compaction starts in the background once
`compact_every` writes have accumulated.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Awaitable, Callable

from fastapi import Depends, FastAPI, File, Form, UploadFile
from starlette.exceptions import HTTPException

from seje_sdk.errors import InputError, SejeError
from seje_sdk.service.batching import Batcher
from seje_sdk.service.schemas import RecipeIn

log = logging.getLogger("seje.service")


def install_items(app: FastAPI, state: Any, running: Callable[[], Batcher],
                  read_upload: Callable[..., Awaitable[tuple[bytes, int]]], decode: Callable[..., Awaitable[Any]]) -> None:
    """Add the /items routes; `running`, `read_upload` and `decode` are the app's readiness check, upload reader and photo decoder."""
    cfg = state.config

    def writable():
        running()
        if state.live is None:
            raise HTTPException(503, f"live updates are off: {state.live_error or 'the service has no index'}")
        return state.live

    def modality_of(modality: str) -> str:
        if modality not in ("recipe", "image"):
            raise HTTPException(404, f"no such modality {modality!r}: use recipe or image")
        return modality

    async def store(live, modality: str, item_id: str, vector, **meta) -> dict:
        record = await asyncio.to_thread(live.put, modality, item_id, vector, **meta)
        if live.pending >= cfg.compact_every and not live.compacting.locked():
            threading.Thread(target=_compact, args=(live, cfg.compact_every), name="seje-compact", daemon=True).start()
        return record

    async def embed(batcher: Batcher, kind: str, item: Any, name: str):
        try:
            return await batcher.submit(kind, item)
        except InputError as e:
            raise InputError(f"{name}: {e}") from None

    @app.put("/items/recipe/{item_id}", summary="Add or replace one recipe (acknowledged once durably logged)")
    async def put_recipe(item_id: str, body: RecipeIn, batcher: Batcher = Depends(running)) -> dict:
        live = writable()
        plain = body.to_sdk(cfg.max_recipe_chars)
        vector = await embed(batcher, "recipe", plain, "recipe")
        return await store(live, "recipe", item_id, vector, title=plain["title"])

    @app.put("/items/image/{item_id}", summary="Add or replace one photo (multipart `file`, optional `recipe_id`)")
    async def put_image(item_id: str, file: UploadFile = File(...), recipe_id: str | None = Form(None),
                        batcher: Batcher = Depends(running)) -> dict:
        live = writable()
        data, _ = await read_upload(file, "file")
        vector = await embed(batcher, "image", await decode(data, "file"), "file")
        return await store(live, "image", item_id, vector, recipe_id=recipe_id)

    @app.delete("/items/{modality}/{item_id}", summary="Remove one item (acknowledged once durably logged)")
    async def delete_item(modality: str, item_id: str) -> dict:
        live = writable()
        if not await asyncio.to_thread(live.delete, modality_of(modality), item_id):
            raise HTTPException(404, f"no {modality} {item_id!r} in the index")
        return {"deleted": True, "modality": modality, "id": item_id}

    @app.get("/items/{modality}/{item_id}", summary="What is stored for one id: title, recipe id, when written")
    async def get_item(modality: str, item_id: str) -> dict:
        record = writable().get(modality_of(modality), item_id)
        if record is None:
            raise HTTPException(404, f"no {modality} {item_id!r} in the index")
        return record


def _compact(live: Any, every: int) -> None:
    try:
        if live.maybe_compact(every):
            log.info("seje service: compacted the live index into %s", live.version_dir())
    except SejeError as e:
        log.warning("seje service: compaction skipped: %s", e)
    except Exception:
        log.exception("seje service: compaction failed (the write log still holds every write)")
