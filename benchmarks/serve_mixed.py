"""`seje-bench serve --writes 0.1`: reads and durable live writes together on one `seje serve`.

N concurrent clients share a request budget; each request is a live write (`PUT /items/recipe/...`,
acknowledged after the fsynced log) with probability `write_share`, else a photo search. The
service logs its writes into a throw-away live folder, so the served index is never changed.
Reported: throughput, p50/p99 of reads and of writes, status counts. Measures, never asserts.
"""
from __future__ import annotations

import asyncio
import random
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from benchmarks.serve import ServeBenchConfig, load_queries, start_service, stop_service, write_json_and_markdown
from seje_sdk.service.config import ServiceConfig


@dataclass(frozen=True)
class MixedBenchConfig:
    """16 clients, 10% writes by default; `requests` in all, within `time_limit_s`."""

    clients: int = 16
    requests: int = 400
    write_share: float = 0.1
    time_limit_s: float = 120.0
    warmup: int = 16
    k: int = 5
    batch_items: int = ServiceConfig.batch_items
    max_wait_ms: float = ServiceConfig.max_wait_ms
    backend: str = "onnxruntime"
    precision: str = "fp32"
    seed: int = 0


async def _mixed_load(url: str, photos: list, recipes: list, cfg: MixedBenchConfig, n: int) -> dict[str, Any]:
    rng = random.Random(cfg.seed)
    kinds = ["write" if rng.random() < cfg.write_share else "read" for _ in range(n)]
    latencies: dict[str, list[float]] = {"read": [], "write": []}
    statuses: dict[str, int] = {}
    issued = 0
    limits = httpx.Limits(max_connections=cfg.clients, max_keepalive_connections=cfg.clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        start = time.perf_counter()
        deadline = start + cfg.time_limit_s

        async def worker() -> None:
            nonlocal issued
            while issued < n and time.perf_counter() < deadline:
                i, issued = issued, issued + 1
                t0 = time.perf_counter()
                try:
                    if kinds[i] == "write":
                        res = await client.put(f"/items/recipe/bench-{cfg.seed}-{i}", json=recipes[i % len(recipes)])
                    else:
                        name, data = photos[i % len(photos)]
                        res = await client.post("/search/image", files={"image": (name, data, "image/jpeg")},
                                                data={"k": str(cfg.k)})
                    code = str(res.status_code)
                except httpx.TransportError as e:
                    code = type(e).__name__
                statuses[f"{kinds[i]} {code}"] = statuses.get(f"{kinds[i]} {code}", 0) + 1
                if code == "200":
                    latencies[kinds[i]].append(time.perf_counter() - t0)

        await asyncio.gather(*[worker() for _ in range(cfg.clients)])
        wall = time.perf_counter() - start
    return {"latencies": latencies, "statuses": statuses, "wall_s": wall}


def _stats(seconds: list[float]) -> dict[str, Any]:
    ms = np.array(seconds) * 1000.0
    if not len(ms):
        return {"ok": 0, "p50_ms": None, "p99_ms": None}
    return {"ok": len(ms), "p50_ms": round(float(np.percentile(ms, 50)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2)}


def run_mixed_bench(bundle: str, index: str, photos_from: str, recipes_from: str, cfg: MixedBenchConfig) -> dict[str, Any]:
    """One dynamic-batching service, reads and writes mixed; the live folder is temporary."""
    photos = load_queries(photos_from, "image", 64)
    recipes = load_queries(recipes_from, "recipe", 256)
    live = Path(tempfile.mkdtemp(prefix="seje-bench-live-"))
    serve_cfg = ServeBenchConfig(backend=cfg.backend, precision=cfg.precision)
    proc, url = start_service(bundle, index, serve_cfg, cfg.batch_items, cfg.max_wait_ms,
                              extra=("--live-dir", str(live), "--max-k", str(max(cfg.k, 100))))
    try:
        asyncio.run(_mixed_load(url, photos, recipes, MixedBenchConfig(**{**asdict(cfg), "write_share": 0.0}), cfg.warmup))
        run = asyncio.run(_mixed_load(url, photos, recipes, cfg, cfg.requests))
    finally:
        stop_service(proc)
        shutil.rmtree(live, ignore_errors=True)
    done = len(run["latencies"]["read"]) + len(run["latencies"]["write"])
    return {"kind": "serve-mixed", "config": asdict(cfg), "bundle": str(bundle), "index": str(index),
            "wall_s": round(run["wall_s"], 3), "throughput_rps": round(done / run["wall_s"], 2) if run["wall_s"] else None,
            "reads": _stats(run["latencies"]["read"]), "writes": _stats(run["latencies"]["write"]), "statuses": run["statuses"]}


def mixed_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: command, machine and load, one row per request kind."""
    from benchmarks.environment import environment_summary
    from benchmarks.report import md_table

    env, cfg = report["environment"], report["config"]
    rows = [[kind, report[key]["ok"], report[key]["p50_ms"], report[key]["p99_ms"]] for kind, key in (("read (photo search)", "reads"),
                                                                                                     ("write (PUT recipe)", "writes"))]
    return "\n".join([
        "# Service load: reads with durable live writes", "",
        f"- Command: `{report.get('command', '(library call)')}`",
        f"- Machine: {environment_summary(env)}",
        f"- Date (UTC): {env['timestamp_utc']}; load average {env.get('load_average_1m_5m_15m')} (a shared machine)",
        f"- Load: {cfg['clients']} concurrent clients on 127.0.0.1, {cfg['requests']} requests, {cfg['write_share']:.0%} writes "
        f"(each fsynced to the SQLite WAL log before its 200), k={cfg['k']}, batch items {cfg['batch_items']}, "
        f"{cfg['backend']} {cfg['precision']}",
        f"- Throughput: {report['throughput_rps']} req/s over {report['wall_s']} s; statuses {report['statuses']}", "",
        md_table(["request", "ok", "p50 ms", "p99 ms"], rows), "",
    ])


def write_mixed_report(report: dict[str, Any], out_dir: str) -> dict[str, Path]:
    """serve_mixed.json and serve_mixed.md in out_dir, atomically."""
    return write_json_and_markdown(report, mixed_markdown(report), out_dir, "serve_mixed")
