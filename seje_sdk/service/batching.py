"""Dynamic batching: one worker thread owns every Retriever call and encodes the requests that
arrive within a short window together.

The event loop never runs the encoders: a request puts a job on a queue and awaits a future.
The worker takes the first job, waits up to `max_wait_ms` for more (up to `batch_items`), embeds
each modality's jobs in one `embed_*` call (on_error="skip", so one bad item fails only its own
request) and searches them grouped by k. Results go back with `call_soon_threadsafe`.
"""
from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from seje_sdk.errors import InputError
from seje_sdk.retriever import EmbedResult, Retriever

log = logging.getLogger("seje.service")
TARGET = {"image": "recipe", "recipe": "image"}  # a photo finds recipes, a recipe finds photos
_STOP = object()


class QueueFull(Exception):
    """More items wait for the encoder than the service allows (answered with 503)."""


@dataclass
class Job:
    """One item to embed (and search when k is set); `future` receives the vector or the hits."""

    kind: str  # "image" (encoded bytes) or "recipe" (a dict)
    item: Any
    k: int | None
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop


class Batcher:
    """Collects jobs into batches of at most `batch_items`, waiting at most `max_wait_ms` after the first."""

    def __init__(self, retriever: Retriever, batch_items: int, max_wait_ms: float, max_queue: int,
                 on_batch: Callable[[str, int], None] | None = None):
        self.retriever, self.batch_items, self.max_wait = retriever, batch_items, max_wait_ms / 1000.0
        self.on_batch = on_batch or (lambda kind, size: None)
        self._queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self._thread = threading.Thread(target=self._loop, name="seje-batcher", daemon=True)
        self._thread.start()

    async def submit(self, kind: str, item: Any, k: int | None = None) -> Any:
        """Embed `item` (kind 'image' or 'recipe'); with k, return its top-k hits [(id, score)] instead of the vector."""
        loop = asyncio.get_running_loop()
        job = Job(kind, item, k, loop.create_future(), loop)
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise QueueFull(f"{self._queue.maxsize} items are already waiting for the encoder") from None
        return await job.future

    def stop(self, timeout: float = 30.0) -> None:
        """Finish every queued job, then end the worker thread."""
        self._queue.put(_STOP)
        self._thread.join(timeout)

    # --- the worker thread ------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch, stopping = [first], False
            deadline = time.monotonic() + self.max_wait
            while len(batch) < self.batch_items:
                try:
                    job = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if job is _STOP:
                    stopping = True
                    break
                batch.append(job)
            self._run(batch)
            if stopping:
                while not self._queue.empty():  # jobs queued behind the stop marker still get answers
                    job = self._queue.get()
                    if job is not _STOP:
                        self._run([job])
                return

    def _run(self, batch: list[Job]) -> None:
        by_kind: dict[str, list[Job]] = defaultdict(list)
        for job in batch:
            if not job.future.cancelled():  # the client went away before its turn
                by_kind[job.kind].append(job)
        for kind, jobs in by_kind.items():
            self.on_batch(kind, len(jobs))
            try:
                self._run_kind(kind, jobs)
            except Exception as e:  # a bug, not bad input: every job of this group fails with it (logged by the app)
                log.exception("seje service: a %s batch of %d failed", kind, len(jobs))
                for job in jobs:
                    _settle(job, e)

    def _run_kind(self, kind: str, jobs: list[Job]) -> None:
        items = [job.item for job in jobs]
        embed = self.retriever.embed_images if kind == "image" else self.retriever.embed_recipes
        res = embed(items, batch_size=self.batch_items, on_error="skip")
        for pos, reason in res.skipped:  # the SDK names the item by its place in this batch: keep only what is wrong
            _settle(jobs[pos], InputError(reason.split(": ", 1)[-1]))
        row_of = {pos: row for row, pos in enumerate(res.positions)}
        searches: dict[int, list[int]] = defaultdict(list)
        for pos, row in row_of.items():
            if jobs[pos].k is None:
                _settle(jobs[pos], res.vectors[row])
            else:
                searches[jobs[pos].k].append(pos)
        for k, positions in searches.items():  # one search per distinct k: equal to what the SDK answers for that k
            vectors = np.stack([res.vectors[row_of[p]] for p in positions])
            hits = self.retriever.search_vectors(EmbedResult(vectors, list(range(len(positions)))), TARGET[kind], k)
            for q, pos in enumerate(positions):
                _settle(jobs[pos], hits[q])


def _settle(job: Job, value: Any) -> None:
    """Hand a result (or an exception) to the job's event loop; ignored when the request was cancelled meanwhile."""

    def settle() -> None:
        if job.future.done():
            return
        if isinstance(value, BaseException):
            job.future.set_exception(value)
        else:
            job.future.set_result(value)

    try:
        job.loop.call_soon_threadsafe(settle)
    except RuntimeError:  # the loop is closed: nobody waits for this answer any more
        pass
