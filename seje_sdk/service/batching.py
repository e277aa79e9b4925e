"""Dynamic, fair batching: one worker thread owns every Retriever call and encodes the items that
arrive within a short window together.

The event loop never runs the encoders: a request puts its items (jobs) on the batcher and
awaits their futures. Photos arrive already decoded and resized (the app does that in worker
threads, one photo at a time per request), so every image job costs the same: one forward pass.
Each request has its own queue; a batch takes one item from each waiting request in turn (round
robin, requests not served yet first) up to `batch_items`, so a request of 32 photos is split into
pieces that interleave with other requests. Recipes are embedded in one `embed_recipes` call
(on_error="skip", so one bad item fails only its own request); both are searched grouped by k.
Results go back with `call_soon_threadsafe`.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections import OrderedDict, defaultdict, deque
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from seje_sdk.errors import InputError
from seje_sdk.retriever import EmbedResult, Retriever

log = logging.getLogger("seje.service")
TARGET = {"image": "recipe", "recipe": "image", "text": "image"}  # a photo finds recipes; a recipe or typed text, photos


class QueueFull(Exception):
    """More items wait for the encoder than the service allows (answered with 503)."""


@dataclass
class Job:
    """One item to embed (and search when k is set); `future` receives the vector or the hits."""

    kind: str  # "image" (a (3, size, size) array from seje_sdk.image.preprocess) or "recipe" (a dict)
    item: Any
    k: int | None
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop


class Batcher:
    """Batches of at most `batch_items` items, waiting at most `max_wait_ms` after the first."""

    def __init__(self, retriever: Retriever, batch_items: int, max_wait_ms: float, max_queue: int,
                 on_batch: Callable[[str, int], None] | None = None):
        self.retriever, self.batch_items, self.max_wait = retriever, batch_items, max_wait_ms / 1000.0
        self.max_queue = max_queue
        self.on_batch = on_batch or (lambda kind, size: None)
        self._waiting: OrderedDict[int, deque[Job]] = OrderedDict()  # request -> its jobs, in round-robin order
        self._count, self._stopping = 0, False
        self._ids = itertools.count()
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name="seje-batcher", daemon=True)
        self._thread.start()

    def enqueue(self, kind: str, items: Sequence[Any], k: int | None = None) -> list[asyncio.Future]:
        """Queue one request's items (all or none: QueueFull when they do not fit); a future per item."""
        loop = asyncio.get_running_loop()
        jobs = [Job(kind, item, k, loop.create_future(), loop) for item in items]
        with self._cond:
            if self._count + len(jobs) > self.max_queue:
                raise QueueFull(f"{self._count} items are already waiting for the encoder (limit {self.max_queue})")
            request = next(self._ids)
            self._waiting[request] = deque(jobs)
            self._waiting.move_to_end(request, last=False)  # not served yet: ahead of requests already served
            self._count += len(jobs)
            self._cond.notify()
        return [job.future for job in jobs]

    async def submit(self, kind: str, item: Any, k: int | None = None) -> Any:
        """Embed `item` (kind 'image' or 'recipe'); with k, return its top-k hits [(id, score)] instead of the vector."""
        return await self.enqueue(kind, [item], k)[0]

    def stop(self, timeout: float = 30.0) -> None:
        """Finish every queued job (within `timeout`), then end the worker thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout)

    # --- the worker thread ------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._count and not self._stopping:
                    self._cond.wait()
                if not self._count:
                    return
                deadline = time.monotonic() + self.max_wait
                while self._count < self.batch_items and not self._stopping and (left := deadline - time.monotonic()) > 0:
                    self._cond.wait(left)
                batch = self._take()
            try:
                self._run(batch)
            except Exception as e:  # never let the worker die: every job of the batch gets the error
                log.exception("seje service: a batch of %d failed", len(batch))
                for job in batch:
                    _settle(job, e)

    def _take(self) -> list[Job]:
        """One job from each waiting request in turn, up to `batch_items` (caller holds the lock).

        Requests not served yet stand first (enqueue puts them at the front), and a served request moves to
        the back, so a light request sent while a heavy one runs goes into the very next batch.
        """
        batch: list[Job] = []
        while self._waiting and len(batch) < self.batch_items:
            for request in list(self._waiting):
                if len(batch) >= self.batch_items:
                    break
                jobs = self._waiting[request]
                batch.append(jobs.popleft())
                self._count -= 1
                if jobs:
                    self._waiting.move_to_end(request)
                else:
                    del self._waiting[request]
        return batch

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
        if kind == "image":  # decoded before the queue: one forward pass for the batch
            res = EmbedResult(self.retriever.embed_pixels(np.stack(items)), list(range(len(items))))
        elif kind == "text":  # checked by the route already (seje_sdk.text_query)
            res = EmbedResult(self.retriever.embed_texts(items, batch_size=self.batch_items), list(range(len(items))))
        else:
            res = self.retriever.embed_recipes(items, batch_size=self.batch_items, on_error="skip")
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
