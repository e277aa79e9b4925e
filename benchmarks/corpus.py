"""Corpus embedding throughput: sequential vs the Ray distributor, and where scaling with workers stops.

    python -m benchmarks.corpus runs/demo/bundle runs/demo/data --out benchmarks/results --shard-size 100

Each configuration embeds the whole corpus into a fresh folder (`seje_sdk.corpus.embed_corpus`);
runs alternate so that a change in the machine's load hits both. Reported per run: wall time
(Ray: including starting a local Ray and its actors), steady throughput (items in shards 2..N over
the time between the first and the last shard file: engine start and the first bundle load left
out), and the load average before and after. The driver's own ceiling (reading the source and
writing shards, no encoder) bounds what more workers can give.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from seje_sdk.corpus import CorpusConfig, embed_corpus
from seje_sdk.corpus.encoder import ShardResult
from seje_sdk.corpus.reader import iter_shards, open_source
from seje_sdk.corpus.shards import ShardSet
from seje_sdk.corpus.writer import ShardWriter

CONFIGS = [
    {"name": "sequential", "distributor": "sequential"},
    {"name": "ray 2 workers x 1 thread", "distributor": "ray", "workers": 2, "threads_per_worker": 1},
    {"name": "ray 1 worker x 2 threads", "distributor": "ray", "workers": 1, "threads_per_worker": 2},
]


def steady_items_per_s(folder: Path) -> float:
    """Items of shards 2..N over the time from the first to the last shard file (engine start-up excluded)."""
    shards = ShardSet.open(folder)
    parts = sorted(shards.parts(), key=lambda p: (p.root / "embeddings" / f"part-{p.number:05d}.npy").stat().st_mtime)
    times = [(p.root / "embeddings" / f"part-{p.number:05d}.npy").stat().st_mtime for p in parts]
    items = sum(p.report()["items"] for p in parts[1:])
    return items / (times[-1] - times[0]) if len(parts) > 1 and times[-1] > times[0] else float("nan")


def run_config(bundle: str, source: str, work: Path, cfg: dict, shard_size: int, modality: str | None) -> dict:
    out = work / cfg["name"].replace(" ", "_")
    shutil.rmtree(out, ignore_errors=True)
    options = {k: v for k, v in cfg.items() if k != "name"}
    load_before = os.getloadavg()
    start = time.perf_counter()
    s = embed_corpus(bundle, source, out, CorpusConfig(shard_size=shard_size, modality=modality, show_progress=False, **options))
    wall = time.perf_counter() - start
    return {"config": cfg["name"], "items": s.embedded + s.skipped, "wall_s": round(wall, 2),
            "items_per_s_wall": round((s.embedded + s.skipped) / wall, 1), "items_per_s_steady": round(steady_items_per_s(out), 1),
            "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in os.getloadavg()]}


def driver_ceiling(source: str, work: Path, shard_size: int, modality: str | None, dim: int) -> dict:
    """Items/s of the driver alone: read the source into shards and write random vectors (no encoder)."""
    src = open_source(source, modality)
    writer = ShardWriter(work / "driver_only", "float32", src.modality)
    rng = np.random.default_rng(0)
    start, n = time.perf_counter(), 0
    for number, items in iter_shards(src, shard_size):
        vectors = rng.standard_normal((len(items), dim)).astype(np.float32)
        writer.write(ShardResult(number, [i.id for i in items], [i.position for i in items], [i.label for i in items], vectors))
        n += len(items)
    return {"items": n, "items_per_s": round(n / (time.perf_counter() - start), 1), "load_after": list(os.getloadavg())}


def markdown(report: dict) -> str:
    rows = report["runs"]
    lines = ["# Corpus embedding: sequential vs Ray Data", "", f"- Command: `{report['command']}`",
             f"- Corpus: {report['source']} ({rows[0]['items']} {report['modality']}s, shards of {report['shard_size']})",
             f"- Machine: {report['machine']}; shared with other jobs, so the load average is given beside every run",
             f"- Date (UTC): {report['date']}", "",
             "| run | config | wall s | items/s (wall) | items/s (steady) | steady vs sequential | load before | load after |",
             "| ---: | --- | ---: | ---: | ---: | ---: | --- | --- |"]
    seq = np.mean([r["items_per_s_steady"] for r in rows if r["config"] == "sequential"])
    for i, r in enumerate(rows):
        lines.append(f"| {i + 1} | {r['config']} | {r['wall_s']} | {r['items_per_s_wall']} | {r['items_per_s_steady']} | "
                     f"{r['items_per_s_steady'] / seq:.2f} | {r['load_before']} | {r['load_after']} |")
    lines += ["", "Mean steady throughput per config (items/s) and its ratio to sequential:", ""]
    for name, value in report["summary"].items():
        lines.append(f"- {name}: {value['items_per_s_steady']} items/s, {value['vs_sequential']:.2f}x sequential")
    d = report["driver_ceiling"]
    lines += ["", f"Driver alone (read source, write shards of random vectors, no encoder): {d['items_per_s']} items/s.", ""]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bundle")
    p.add_argument("source")
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("--shard-size", type=int, default=100)
    p.add_argument("--modality", default=None)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args(argv)
    from benchmarks.environment import capture_environment
    from seje_sdk.bundle import Bundle

    env = capture_environment()
    work = Path(tempfile.mkdtemp(prefix="seje-corpus-bench-"))
    try:
        runs = [run_config(args.bundle, args.source, work, cfg, args.shard_size, args.modality)
                for _ in range(args.repeats) for cfg in CONFIGS]
        dim = Bundle.load(args.bundle).embedding_dim
        ceiling = driver_ceiling(args.source, work, args.shard_size, args.modality, dim)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    seq = float(np.mean([r["items_per_s_steady"] for r in runs if r["config"] == "sequential"]))
    summary = {}
    for cfg in CONFIGS:
        mean = float(np.mean([r["items_per_s_steady"] for r in runs if r["config"] == cfg["name"]]))
        summary[cfg["name"]] = {"items_per_s_steady": round(mean, 1), "vs_sequential": round(mean / seq, 3)}
    report = {"kind": "corpus", "command": "python -m benchmarks.corpus " + " ".join(sys.argv[1:] if argv is None else argv),
              "source": args.source, "modality": open_source(args.source, args.modality).modality, "shard_size": args.shard_size,
              "machine": f"{env.get('cpu_model', '?')} ({env.get('cpu_logical_cores')} logical cores, {env.get('ram_total_gib')} GiB RAM)", "environment": env,
              "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runs": runs, "summary": summary,
              "driver_ceiling": ceiling}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "corpus.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (out / "corpus.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
