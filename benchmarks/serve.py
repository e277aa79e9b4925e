"""`seje-bench serve`: bounded load on a running `seje serve` (127.0.0.1 only), batching on vs off.

Each mode runs as its own `seje serve` process (so the load generator never shares its GIL);
both start before any load, then N concurrent clients (asyncio + httpx) load them in
alternating rounds, each round bounded by a request count and a time limit. Reported per mode:
throughput (overall and per round), p50/p99/mean latency, status counts, and the mean batch
size from the service's own /metrics. Measures, never asserts.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from seje_sdk.corpus.reader import IMAGE_SUFFIXES, image_files, read_recipes
from seje_sdk.errors import InputError
from seje_sdk.io import atomic_file, write_json
from seje_sdk.service.config import ServiceConfig

HOST = "127.0.0.1"  # the network rule: the benchmark only ever talks to this machine


@dataclass(frozen=True)
class ServeBenchConfig:
    """The load: `clients` concurrent clients, at most `requests` requests and `time_limit_s` seconds per mode."""

    clients: int = 16
    requests: int = 200        # per mode and round
    rounds: int = 3            # the modes alternate round by round
    time_limit_s: float = 60.0
    warmup: int = 16
    query: str = "image"       # image: photos find recipes; recipe: recipes find photos
    k: int = 5
    batch_items: int = ServiceConfig.batch_items  # the batched mode; the other mode is batch_items 1, no wait
    max_wait_ms: float = ServiceConfig.max_wait_ms
    max_queries: int = 64      # distinct query items cycled through
    backend: str = "onnxruntime"
    precision: str = "fp32"


def load_queries(source: str | os.PathLike, query: str, limit: int) -> list[Any]:
    """Query payloads: photo bytes from a folder (query=image), or recipes from a layer1.json/.jsonl (query=recipe)."""
    source = Path(source)
    if query == "image":
        files = image_files([source])
        if not files:
            raise InputError(f"--queries {source}: no photos ({', '.join(sorted(IMAGE_SUFFIXES))}) found")
        return [(p.name, p.read_bytes()) for p in files[:limit]]
    recipes = read_recipes(source)[:limit]
    return [{"title": r.get("title", ""), "ingredients": [x["text"] if isinstance(x, dict) else x for x in r.get("ingredients", [])],
             "instructions": [x["text"] if isinstance(x, dict) else x for x in r["instructions"]]} for r in recipes]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_service(bundle: str, index: str, cfg: ServeBenchConfig, batch_items: int, max_wait_ms: float,
                  extra: tuple[str, ...] = ()) -> tuple[subprocess.Popen, str]:
    """`seje serve` (plus `extra` options) in a child process on a free 127.0.0.1 port; returns once /ready says so."""
    port = _free_port()
    cmd = [sys.executable, "-c", "from seje_sdk.cli import main; main()", "serve", bundle, "--index", index, "--host", HOST,
           "--port", str(port), "--batch-items", str(batch_items), "--max-wait-ms", str(max_wait_ms),
           "--backend", cfg.backend, "--precision", cfg.precision, "--log-level", "warning", *extra]
    # stderr goes to a file, never an undrained pipe: a service that logs more than a pipe holds would block.
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, text=True)
    url = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise InputError(f"seje serve exited ({proc.returncode}): {log.read()[-2000:]}")
        try:
            if httpx.get(url + "/ready", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise InputError("seje serve did not become ready within 120 s")


def stop_service(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()


async def _one(client: httpx.AsyncClient, query: str, item: Any, k: int) -> int:
    if query == "image":
        name, data = item
        res = await client.post("/search/image", files={"image": (name, data, "image/jpeg")}, data={"k": str(k)})
    else:
        res = await client.post("/search/recipe", json={"recipe": item, "k": k})
    return res.status_code


async def _load(url: str, queries: list[Any], cfg: ServeBenchConfig, n_requests: int, time_limit: float) -> dict[str, Any]:
    """N clients share a request budget and a deadline; returns per-request latencies and status codes."""
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    issued = 0
    limits = httpx.Limits(max_connections=cfg.clients, max_keepalive_connections=cfg.clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        start = time.perf_counter()
        deadline = start + time_limit

        async def worker() -> None:
            nonlocal issued
            while issued < n_requests and time.perf_counter() < deadline:
                item = queries[issued % len(queries)]
                issued += 1
                t0 = time.perf_counter()
                try:
                    code = str(await _one(client, cfg.query, item, cfg.k))
                except httpx.TransportError as e:
                    code = type(e).__name__
                statuses[code] = statuses.get(code, 0) + 1
                if code == "200":
                    latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*[worker() for _ in range(cfg.clients)])
        wall = time.perf_counter() - start
    return {"latencies": latencies, "statuses": statuses, "wall_s": wall}


def _batch_mean(url: str, kind: str) -> float | None:
    """Mean items per encoder call, from the service's own Prometheus histogram."""
    text = httpx.get(url + "/metrics", timeout=10).text
    values = {}
    for line in text.splitlines():
        for part in ("sum", "count"):
            if line.startswith(f'seje_batch_size_{part}{{kind="{kind}"}}'):
                values[part] = float(line.split()[-1])
    return values["sum"] / values["count"] if values.get("count") else None


MODES = (("batch-1", 1, 0.0), ("dynamic batching", None, None))  # None: the config's batch_items / max_wait_ms


def _summary(name: str, batch_items: int, max_wait_ms: float, runs: list[dict], batch_mean: float | None) -> dict[str, Any]:
    lat = np.array([x for r in runs for x in r["latencies"]]) * 1000.0
    ok, wall = len(lat), sum(r["wall_s"] for r in runs)
    statuses: dict[str, int] = {}
    for r in runs:
        for code, n in r["statuses"].items():
            statuses[code] = statuses.get(code, 0) + n
    return {"mode": name, "batch_items": batch_items, "max_wait_ms": max_wait_ms, "requests_ok": ok, "statuses": statuses,
            "wall_s": round(wall, 3), "throughput_rps": round(ok / wall, 2) if wall else None,
            "round_throughput_rps": [round(len(r["latencies"]) / r["wall_s"], 2) for r in runs],
            "p50_ms": round(float(np.percentile(lat, 50)), 2) if ok else None,
            "p99_ms": round(float(np.percentile(lat, 99)), 2) if ok else None,
            "mean_ms": round(float(lat.mean()), 2) if ok else None,
            "mean_batch_size": round(batch_mean, 2) if batch_mean else None}


def run_serve_bench(bundle: str, index: str, queries_from: str, cfg: ServeBenchConfig) -> dict[str, Any]:
    """Both modes on the same queries and load, in alternating rounds (so a shared machine's load drift hits both alike)."""
    queries = load_queries(queries_from, cfg.query, cfg.max_queries)
    modes = [(name, mb or cfg.batch_items, cfg.max_wait_ms if mw is None else mw) for name, mb, mw in MODES]
    services = []
    try:
        for _, batch_items, max_wait_ms in modes:  # both services start (and stay idle) before any load
            services.append(start_service(bundle, index, cfg, batch_items, max_wait_ms))
        for _, url in services:
            asyncio.run(_load(url, queries, cfg, cfg.warmup, cfg.time_limit_s))
        runs: list[list[dict]] = [[] for _ in modes]
        for _ in range(cfg.rounds):
            for m, (_, url) in enumerate(services):
                runs[m].append(asyncio.run(_load(url, queries, cfg, cfg.requests, cfg.time_limit_s)))
        rows = [_summary(name, mb, mw, runs[m], _batch_mean(services[m][1], cfg.query)) for m, (name, mb, mw) in enumerate(modes)]
    finally:
        for proc, _ in services:
            stop_service(proc)
    return {"kind": "serve", "config": asdict(cfg), "bundle": str(bundle), "index": str(index),
            "queries": {"from": str(queries_from), "count": len(queries)}, "rows": rows, "target": serve_target(rows)}


def serve_target(rows: list[dict]) -> dict[str, str]:
    """The issue's target: batching >= 2x batch-1 throughput at a p99 below 2x batch-1's p99 (reported, not asserted)."""
    single, batched = rows
    target = "16 clients: dynamic batching >= 2x batch-1 throughput at p99 < 2x batch-1 p99"
    if not single["throughput_rps"] or not batched["throughput_rps"]:
        return {"target": target, "status": "not measured", "detail": "a mode answered no request"}
    speedup = batched["throughput_rps"] / single["throughput_rps"]
    p99_ratio = batched["p99_ms"] / single["p99_ms"]
    met = speedup >= 2.0 and p99_ratio < 2.0
    return {"target": target, "status": "met" if met else "not met",
            "detail": f"throughput x{speedup:.2f}, p99 x{p99_ratio:.2f} (batch-1: {single['throughput_rps']} req/s, "
                      f"p99 {single['p99_ms']} ms; batched: {batched['throughput_rps']} req/s, p99 {batched['p99_ms']} ms)"}


def serve_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: command, machine and load, the two modes side by side, the target."""
    from benchmarks.environment import environment_summary
    from benchmarks.report import md_table

    env, cfg, t = report["environment"], report["config"], report["target"]
    rows = [[r["mode"], r["batch_items"], r["max_wait_ms"], r["requests_ok"], r["throughput_rps"],
             " / ".join(map(str, r["round_throughput_rps"])), r["p50_ms"], r["p99_ms"], r["mean_ms"], r["mean_batch_size"],
             json.dumps(r["statuses"])] for r in report["rows"]]
    return "\n".join([
        "# Service load: dynamic batching vs batch-1", "",
        f"- Command: `{report.get('command', '(library call)')}`",
        f"- Machine: {environment_summary(env)}",
        f"- Date (UTC): {env['timestamp_utc']}; load average {env.get('load_average_1m_5m_15m')} (a shared machine)",
        f"- Load: {cfg['clients']} concurrent clients on 127.0.0.1, {cfg['rounds']} alternating rounds of {cfg['requests']} "
        f"{cfg['query']} searches (k={cfg['k']}) per mode after {cfg['warmup']} warm-up, time limit {cfg['time_limit_s']} s a round; "
        f"{report['queries']['count']} distinct queries; "
        f"{cfg['backend']} {cfg['precision']}", "",
        md_table(["mode", "max batch", "max wait ms", "ok", "req/s", "req/s per round", "p50 ms", "p99 ms", "mean ms", "mean batch", "statuses"], rows), "",
        md_table(["target", "status", "detail"], [[t["target"], f"**{t['status']}**", t["detail"]]]), "",
    ])


def write_json_and_markdown(report: dict[str, Any], markdown: str, out_dir: str | os.PathLike, stem: str) -> dict[str, Path]:
    """STEM.json and STEM.md in out_dir, each written atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / f"{stem}.json", report)
    with atomic_file(out / f"{stem}.md", "w") as f:
        f.write(markdown + "\n")
    return {"json": out / f"{stem}.json", "markdown": out / f"{stem}.md"}


def write_serve_report(report: dict[str, Any], out_dir: str | os.PathLike) -> dict[str, Path]:
    """serve.json and serve.md in out_dir, atomically."""
    return write_json_and_markdown(report, serve_markdown(report), out_dir, "serve")
