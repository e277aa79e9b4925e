"""Corpus embedding throughput: sequential vs the Ray distributor, and where scaling with workers stops.

    python -m benchmarks.corpus runs/demo/bundle runs/demo/data --out benchmarks/results --shard-size 100

Each configuration embeds the whole corpus (N items) into a fresh folder and, right before, a
one-item corpus made of its first item (`seje_sdk.corpus.embed_corpus` both times); runs alternate
so that a change in the machine's load hits every configuration. The one-item wall time is the
fixed cost F (loading the bundle; for Ray also starting a local Ray and its actors), so the
marginal throughput (N - 1) / (W - F) compares the engines on the work itself; the wall
throughput N / W includes the fixed cost. The load average is recorded before and after each run.
The driver's own ceiling (reading the source and writing shards, no encoder) bounds what more
workers can give.
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
from seje_sdk.corpus.ray_distributor import RayOptions
from seje_sdk.corpus.reader import iter_items, iter_shards, open_source
from seje_sdk.corpus.writer import ShardWriter

CONFIGS = [
    {"name": "sequential", "distributor": "sequential"},
    {"name": "ray 2 workers x 1 thread", "distributor": "ray", "ray": RayOptions(workers=2, threads_per_worker=1)},
    {"name": "ray 1 worker x 2 threads", "distributor": "ray", "ray": RayOptions(workers=1, threads_per_worker=2)},
]


def first_item_source(source: str, modality: str | None, work: Path) -> str:
    """A one-item JSON Lines corpus holding the source's first item (for the fixed cost of a run)."""
    src = open_source(source, modality)
    first = next(iter_items(src))
    row = json.loads(first.payload) if src.modality == "recipe" else {"id": first.id, "path": first.payload}
    path = work / "one.jsonl"
    path.write_text(json.dumps(row) + "\n")
    return str(path)


def timed_run(bundle: str, source: str, out: Path, options: dict, shard_size: int, modality: str | None) -> tuple[float, int]:
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    s = embed_corpus(bundle, source, out, CorpusConfig(shard_size=shard_size, modality=modality, show_progress=False, **options))
    return time.perf_counter() - start, s.embedded + s.skipped


def run_config(bundle: str, source: str, one: str, work: Path, cfg: dict, shard_size: int, modality: str | None) -> dict:
    out = work / cfg["name"].replace(" ", "_")
    options = {k: v for k, v in cfg.items() if k != "name"}
    load_before = os.getloadavg()
    fixed, _ = timed_run(bundle, one, out, options, shard_size, modality)
    wall, n = timed_run(bundle, source, out, options, shard_size, modality)
    return {"config": cfg["name"], "items": n, "fixed_s": round(fixed, 2), "wall_s": round(wall, 2),
            "items_per_s_wall": round(n / wall, 1), "items_per_s_marginal": round((n - 1) / max(wall - fixed, 1e-9), 1),
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


def index_memory(bundle: str, n: int, kinds: list[str], work: Path, shard_size: int = 10_000) -> list[dict]:
    """Build each index kind from n random unit vectors in shards, each in a fresh process; its peak RSS and time."""
    import subprocess

    from seje_sdk.bundle import Bundle
    from seje_sdk.corpus.writer import open_manifest

    b = Bundle.load(bundle)
    root = work / "shards"
    src = {"path": "random unit vectors", "kind": "synthetic", "modality": "recipe"}
    manifest = open_manifest(root, {"fingerprint": b.fingerprint, "bundle": bundle, "source": src, "shard_size": shard_size,
                                    "dtype": "float32", "embedding_dim": b.embedding_dim})
    writer, rng = ShardWriter(root, "float32", "recipe"), np.random.default_rng(0)
    for number, start in enumerate(range(0, n, shard_size)):
        v = rng.standard_normal((min(shard_size, n - start), b.embedding_dim)).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        ids = [f"r{start + i}" for i in range(len(v))]
        writer.write(ShardResult(number, ids, list(range(start, start + len(v))), ids, v))
    from seje_sdk.corpus.writer import finish_manifest

    finish_manifest(root, manifest, {"shards": number + 1, "embedded": n, "skipped": 0})
    rows = []
    for kind in kinds:
        code = ("import json; from seje_sdk.corpus.index_from_shards import build_from_shards, peak_rss_bytes; "
                "base = peak_rss_bytes(); "
                f"r = build_from_shards({bundle!r}, [{str(root)!r}], {str(work / kind)!r}, kind={kind!r}); "
                "print(json.dumps({'seconds': r.seconds, 'peak_rss': r.peak_rss_bytes, 'rss_before': base}))")
        load_before = os.getloadavg()
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()[-1]
        r = json.loads(out)
        rows.append({"kind": kind, "vectors": n, "dim": b.embedding_dim, "shard_size": shard_size,
                     "vectors_mib": round(n * b.embedding_dim * 4 / 2**20, 1), "build_s": round(r["seconds"], 1),
                     "peak_rss_mib": round(r["peak_rss"] / 2**20, 1), "rss_before_build_mib": round(r["rss_before"] / 2**20, 1),
                     "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in os.getloadavg()]})
        shutil.rmtree(work / kind, ignore_errors=True)
    return rows


def markdown(report: dict) -> str:
    rows = report["runs"]
    lines = ["# Corpus embedding: sequential vs Ray Data", "", f"- Command: `{report['command']}`",
             f"- Corpus: {report['source']} ({rows[0]['items']} {report['modality']}s, shards of {report['shard_size']})",
             f"- Machine: {report['machine']}; shared with other jobs, so the load average is given beside every run",
             f"- Date (UTC): {report['date']}", "",
             "| run | config | fixed s (1 item) | wall s | items/s (wall) | items/s (marginal) | load before | load after |",
             "| ---: | --- | ---: | ---: | ---: | ---: | --- | --- |"]
    for i, r in enumerate(rows):
        lines.append(f"| {i + 1} | {r['config']} | {r['fixed_s']} | {r['wall_s']} | {r['items_per_s_wall']} | "
                     f"{r['items_per_s_marginal']} | {r['load_before']} | {r['load_after']} |")
    lines += ["", "Mean per config: marginal items/s (fixed cost left out) and wall items/s, as a ratio to sequential:", "",
              "| config | marginal items/s | x sequential | wall items/s | x sequential | fixed s |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, v in report["summary"].items():
        lines.append(f"| {name} | {v['items_per_s_marginal']} | {v['marginal_vs_sequential']:.2f} | {v['items_per_s_wall']} | "
                     f"{v['wall_vs_sequential']:.2f} | {v['fixed_s']} |")
    d, seq = report["driver_ceiling"], report["summary"]["sequential"]
    lines += ["", f"Driver alone (read source, write shards of random vectors, no encoder): {d['items_per_s']} items/s.", "",
              "What follows is computed from the rows above:", ""]
    for name, v in report["summary"].items():
        if name == "sequential":
            continue
        # Wall time W = F + N / m per engine; Ray's wall throughput reaches 90% of sequential's at N >= n_even.
        m_r, m_s, f_r, f_s = v["items_per_s_marginal"], seq["items_per_s_marginal"], v["fixed_s"], seq["fixed_s"]
        denom = 1 / (0.9 * m_s) - 1 / m_r
        n_even = (f_r - f_s / 0.9) / denom if denom > 0 else float("inf")
        workers = int(name.split()[1])
        per_actor = m_r / workers
        lines.append(f"- {name}: marginal {v['marginal_vs_sequential']:.2f}x sequential; its fixed cost ({f_r} s vs "
                     f"{f_s} s) is amortised to 90% of sequential's wall throughput from about {n_even:,.0f} items. "
                     f"At {per_actor:.0f} items/s per actor the driver ({d['items_per_s']} items/s) keeps up with about "
                     f"{d['items_per_s'] / per_actor:.0f} such actors.")
    if report.get("index_memory"):
        rows = report["index_memory"]
        lines += ["", "## Index build from shards: memory", "", f"Commands: `{report['index_command']}`. Each kind is built in a "
                  "fresh process from shards of random unit vectors; peak RSS is the process's high-water mark "
                  "(VmHWM), which also counts pages of a memory-mapped file while they are mapped and resident.", "",
                  "| kind | vectors | all vectors MiB | shard MiB | build s | RSS before build MiB | peak RSS MiB | load before | load after |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
        for r in rows:
            lines.append(f"| {r['kind']} | {r['vectors']:,} | {r['vectors_mib']} | {r['shard_size'] * r['dim'] * 4 / 2**20:.1f} | "
                         f"{r['build_s']} | {r['rss_before_build_mib']} | {r['peak_rss_mib']} | {r['load_before']} | {r['load_after']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bundle")
    p.add_argument("source")
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("--shard-size", type=int, default=100)
    p.add_argument("--modality", default=None)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--index-only", type=int, default=0, metavar="N",
                   help="only measure index builds from N random vectors in shards, added to OUT/corpus.json")
    p.add_argument("--index-kinds", default="exact,exact-fp16,ivfpq", help="with --index-only: kinds to (re)measure")
    args = p.parse_args(argv)
    if args.index_only:
        work = Path(tempfile.mkdtemp(prefix="seje-corpus-index-"))
        try:
            rows = index_memory(args.bundle, args.index_only, args.index_kinds.split(","), work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        path = Path(args.out) / "corpus.json"
        report = json.loads(path.read_text())
        kept = [r for r in report.get("index_memory", []) if r["kind"] not in {x["kind"] for x in rows}]
        report.update(index_memory=rows + kept, index_command="python -m benchmarks.corpus " + " ".join(sys.argv[1:] if argv is None else argv))
        path.write_text(json.dumps(report, indent=2, default=str) + "\n")
        (Path(args.out) / "corpus.md").write_text(markdown(report))
        print(markdown(report))
        return
    from benchmarks.environment import capture_environment
    from seje_sdk.bundle import Bundle

    env = capture_environment()
    work = Path(tempfile.mkdtemp(prefix="seje-corpus-bench-"))
    try:
        one = first_item_source(args.source, args.modality, work)
        runs = [run_config(args.bundle, args.source, one, work, cfg, args.shard_size, args.modality)
                for _ in range(args.repeats) for cfg in CONFIGS]
        dim = Bundle.load(args.bundle).embedding_dim
        ceiling = driver_ceiling(args.source, work, args.shard_size, args.modality, dim)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    def mean(name: str, key: str) -> float:
        return float(np.mean([r[key] for r in runs if r["config"] == name]))

    summary = {}
    for cfg in CONFIGS:
        marginal, wall = mean(cfg["name"], "items_per_s_marginal"), mean(cfg["name"], "items_per_s_wall")
        summary[cfg["name"]] = {"items_per_s_marginal": round(marginal, 1), "items_per_s_wall": round(wall, 1),
                                "marginal_vs_sequential": round(marginal / mean("sequential", "items_per_s_marginal"), 3),
                                "wall_vs_sequential": round(wall / mean("sequential", "items_per_s_wall"), 3),
                                "fixed_s": round(mean(cfg["name"], "fixed_s"), 2)}
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
