"""The timing harness: benchmark cases timed round-robin so backend ratios are fair on a busy machine.

A case is one (backend, precision, encoder, batch size) with a prepared batch and a `run(batch)`
callable. Cases that cannot run here are kept as rows with `skipped` set, never dropped.
"""
from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np
from tqdm import tqdm

from benchmarks.environment import load_fields, load_snapshot
from benchmarks.memory import rss_reader
from seje_sdk.progress import progress_bar

BASELINE_BACKEND = "pytorch"


@dataclass
class BenchCase:
    """One thing to time: `run(batch)` on a ready batch of `batch_size` items, then `sync()`."""

    backend: str
    precision: str
    encoder: str
    batch_size: int
    run: Callable[[Any], Any] | None = None
    batch: Any = None
    sync: Callable[[], None] | None = None  # e.g. torch.cuda.synchronize: time finished work only
    gpu_peak_mib: Callable[[], float | None] | None = None
    skipped: str | None = None
    note: str = ""
    items: int | None = None  # items per call when a call covers several batches (default batch_size)

    @property
    def name(self) -> str:
        return f"{self.backend}/{self.precision}"


@dataclass(frozen=True)
class TimingConfig:
    """Warm-up and timed iterations per case; a group stops early past `budget_s` once `min_iters` ran."""

    warmup: int = 3
    iters: int = 20
    min_iters: int = 3
    budget_s: float = 120.0


class RssSampler:
    """Samples this process's RSS every few ms and keeps the peak per active case key."""

    def __init__(self, interval_s: float = 0.005) -> None:
        self._rss = rss_reader()
        self._interval = interval_s
        self.active: str | None = None
        self.peaks: dict[str, int] = defaultdict(int)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            time.sleep(self._interval)

    def sample(self) -> None:
        key = self.active
        if key is not None:
            rss = self._rss()
            if rss > self.peaks[key]:
                self.peaks[key] = rss

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


def best_of(fn: Callable[[], Any], repeats: int, clock: Callable[[], float] = time.perf_counter) -> tuple[float, Any]:
    """The shortest of `repeats` calls of `fn` in `clock` seconds (wall by default), and the last result."""
    best, out = float("inf"), None
    for _ in range(repeats):
        start = clock()
        out = fn()
        best = min(best, clock() - start)
    return best, out


def latency_stats(seconds: Iterable[float], batch_size: int) -> dict[str, float]:
    """p50/p90/p99/mean latency in ms and throughput (items per second of total timed work)."""
    t = np.asarray(list(seconds), dtype=np.float64)
    p50, p90, p99 = np.percentile(t, [50, 90, 99]) * 1e3
    return {
        "iters": int(t.size),
        "p50_ms": float(p50),
        "p90_ms": float(p90),
        "p99_ms": float(p99),
        "mean_ms": float(t.mean() * 1e3),
        "throughput": float(batch_size * t.size / t.sum()),
    }


def _row(case: BenchCase, status: str, **extra: Any) -> dict[str, Any]:
    row = {
        "backend": case.backend,
        "precision": case.precision,
        "encoder": case.encoder,
        "batch_size": case.batch_size,
        "status": status,
        "note": case.note,
    }
    row.update(extra)
    return row


def _reason(e: Exception, limit: int = 400) -> str:
    # torch.compile errors run to pages; the first lines say what failed.
    text = f"{type(e).__name__}: {e}".strip()
    return text if len(text) <= limit else text[:limit] + " ..."


def _timed(case: BenchCase) -> float:
    t0 = time.perf_counter()
    case.run(case.batch)
    if case.sync is not None:
        case.sync()
    return time.perf_counter() - t0


def time_group(cases: list[BenchCase], cfg: TimingConfig, sampler: RssSampler, bar: tqdm | None = None) -> list[dict]:
    """Warm every runnable case up, then time them round-robin (rotating the order each round)."""
    sampler.peaks.clear()  # peaks are per case of this group
    before = load_snapshot()  # the group's cases run interleaved, so they share one before/after
    rows: dict[int, dict] = {}
    live: list[int] = []
    for i, case in enumerate(cases):
        if case.skipped:
            rows[i] = _row(case, "skipped", reason=case.skipped)
            continue
        sampler.active = f"{i}"
        if bar is not None:
            bar.set_postfix_str(f"warm-up {case.name}")
        try:
            for _ in range(cfg.warmup):
                _timed(case)
            live.append(i)
        except Exception as e:  # a backend that fails is a finding to report, not a crash
            rows[i] = _row(case, "failed", reason=_reason(e))
        sampler.active = None
    times: dict[int, list[float]] = {i: [] for i in live}
    if bar is not None:
        bar.set_postfix_str("timing")
    start = time.perf_counter()
    for r in range(cfg.iters):
        if r >= cfg.min_iters and time.perf_counter() - start > cfg.budget_s:
            break
        order = live[r % len(live):] + live[: r % len(live)] if live else []
        for i in order:
            sampler.active = f"{i}"
            try:
                times[i].append(_timed(cases[i]))
            except Exception as e:  # e.g. with warmup=0 a failure first shows here
                rows[i] = _row(cases[i], "failed", reason=_reason(e))
                live.remove(i)
            sampler.sample()
            sampler.active = None
        if bar is not None:
            bar.update(1)
    load = load_fields(before, load_snapshot())
    for i in live:
        case = cases[i]
        if not times[i]:
            continue
        gpu = case.gpu_peak_mib() if case.gpu_peak_mib else None
        rows[i] = _row(
            case, "ok", peak_rss_mib=round(sampler.peaks[f"{i}"] / 2**20, 1), peak_gpu_mib=gpu,
            **latency_stats(times[i], case.items or case.batch_size), **load,
        )
    return [rows[i] for i in range(len(cases))]


def run_interleaved(cases: list[BenchCase], cfg: TimingConfig = TimingConfig(), progress: bool = True) -> list[dict]:
    """Time all cases, interleaved within each (encoder, batch size) group, and add baseline ratios."""
    groups: dict[tuple[str, int], list[BenchCase]] = defaultdict(list)
    for case in cases:
        groups[(case.encoder, case.batch_size)].append(case)
    rows: list[dict] = []
    with RssSampler() as sampler:
        for (encoder, bs), group in groups.items():
            desc = f"{encoder} batch {bs}: {len([c for c in group if not c.skipped])} backends"
            with progress_bar(total=cfg.iters, desc=desc, disable=not progress, leave=False) as bar:
                rows.extend(time_group(group, cfg, sampler, bar))
            release(group)
    return add_ratios(rows)


def add_ratios(rows: list[dict], baseline: str = BASELINE_BACKEND) -> list[dict]:
    """Throughput ratio of each row over the best PyTorch row of its (encoder, batch) group (>1 = faster)."""
    best: dict[tuple[str, int], dict] = {}
    for row in rows:
        if row["status"] == "ok" and row["backend"].split("+")[0] == baseline:
            key = (row["encoder"], row["batch_size"])
            if key not in best or row["throughput"] > best[key]["throughput"]:
                best[key] = row
    for row in rows:
        base = best.get((row["encoder"], row["batch_size"]))
        ok = row["status"] == "ok" and base is not None
        row["ratio_vs_pytorch"] = round(row["throughput"] / base["throughput"], 3) if ok else None
        row["baseline"] = f"{base['backend']}/{base['precision']}" if base else None
    return rows


def release(cases: list[BenchCase]) -> None:
    """Drop the prepared batches (large at batch 128) once a group is done."""
    for case in cases:
        case.batch = None

