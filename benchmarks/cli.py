"""`seje-bench`: latency and retrieval benchmarks, written as JSON + Markdown + PNG into --out."""
from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import click
from click.core import ParameterSource

from benchmarks.search_scaling import METHODS
from seje_sdk.cli_errors import SejeGroup
from seje_sdk.extras import needs_extra, require_extra
from seje_sdk.service.config import ServiceConfig

# Outside the repository, so a casual run never overwrites the committed benchmarks/results/.
DEFAULT_OUT = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "seje" / "bench"


def _ints(value: str, name: str) -> tuple[int, ...]:
    try:
        out = tuple(int(v.replace("_", "")) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}", param_hint=name) from None
    if not out or min(out) < 1:
        raise click.BadParameter(f"expected positive integers, got {value!r}", param_hint=name)
    return out


def _command() -> str:
    return "seje-bench " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _print_targets(targets: list[dict]) -> None:
    for t in targets:
        click.echo(f"  [{t['status']:>12}] {t['target']}: {t['detail']}")


@click.group(cls=SejeGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Measure latency/throughput of every backend and retrieval quality of every variant."""


@main.command()
@click.argument("bundle", type=click.Path(exists=True, file_okay=False))
@click.option("--run", "run_dir", type=click.Path(exists=True, file_okay=False), help="RUN_DIR of the PyTorch baseline (ratios need it).")
@click.option("--data", "data_dir", type=click.Path(exists=True, file_okay=False), help="Data folder for real recipes/images (default: the run's).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=str(DEFAULT_OUT), show_default=True,
              help="Report folder (the default is outside the repository: committed results change only on purpose).")
@click.option("--batch-sizes", default="1,8,32,128", show_default=True, help="Comma-separated batch sizes.")
@click.option("--iters", type=click.IntRange(1), default=20, show_default=True, help="Timed iterations per case (interleaved).")
@click.option("--warmup", type=click.IntRange(0), default=3, show_default=True, help="Warm-up iterations per case.")
@click.option("--budget", type=click.FloatRange(0), default=120.0, show_default=True, help="Seconds per (encoder, batch) group before stopping early (>= 3 rounds).")
@click.option("--e2e/--no-e2e", default=True, show_default=True, help="Also time image files -> search and SDK overhead.")
@click.option("--e2e-batch-size", type=click.IntRange(1), default=64, show_default=True)
@click.option("--compile/--no-compile", "compile_model", default=True, show_default=True, help="Try torch.compile for the PyTorch baseline.")
@click.option("--compile-batch-sizes", default=None, help="Batch sizes that get a torch.compile row (default: all); one size compiles once.")
@click.option("--threads", type=click.IntRange(0), default=0, show_default=True, help="Threads for torch and ONNX Runtime alike (0 = all CPUs).")
@click.option("--quick", is_flag=True, help="CI smoke: batch 1,4, 3 iterations, no torch.compile.")
def latency(bundle, run_dir, data_dir, out_dir, batch_sizes, iters, warmup, budget, e2e, e2e_batch_size, compile_model,
            compile_batch_sizes, threads, quick):
    """Latency and throughput per backend, precision, encoder and batch size, with the ratio to PyTorch."""
    from benchmarks.latency import LatencyConfig, run_latency
    from benchmarks.report import write_report
    from benchmarks.targets import latency_targets

    ctx = click.get_current_context()
    options = {"batch_sizes": ("batch_sizes", _ints(batch_sizes, "--batch-sizes")), "iters": ("iters", iters),
               "warmup": ("warmup", warmup), "budget_s": ("budget", budget), "e2e": ("e2e", e2e),
               "e2e_batch_size": ("e2e_batch_size", e2e_batch_size), "compile": ("compile_model", compile_model),
               "threads": ("threads", threads),
               "compile_batch_sizes": ("compile_batch_sizes", _ints(compile_batch_sizes, "--compile-batch-sizes") if compile_batch_sizes else None)}
    if quick:  # quick settings, except what the user set explicitly
        chosen = {f: v for f, (param, v) in options.items() if ctx.get_parameter_source(param) is not ParameterSource.DEFAULT}
        cfg = LatencyConfig.quick(**chosen)
    else:
        cfg = LatencyConfig(**{f: v for f, (_, v) in options.items()})
    if run_dir or data_dir:  # real recipes are read with trainer.data (ijson); torch only for PyTorch rows
        require_extra("seje-bench latency --run/--data", "corpus", modules=("ijson",))
    report = run_latency(bundle, run_dir, data_dir, cfg)
    report["command"] = _command()
    report["targets"] = latency_targets(report)
    paths = write_report(report, out_dir, "latency")
    _print_targets(report["targets"])
    click.echo(f"wrote {', '.join(str(p) for p in paths.values())}")


@main.command()
@click.argument("bundle", type=click.Path(exists=True, file_okay=False))
@click.option("--data", "data_dir", type=click.Path(exists=True, file_okay=False), required=True, help="Data folder (its test split is evaluated).")
@click.option("--run", "run_dir", type=click.Path(exists=True, file_okay=False), help="RUN_DIR of the PyTorch reference.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=str(DEFAULT_OUT), show_default=True,
              help="Report folder (the default is outside the repository: committed results change only on purpose).")
@click.option("--scales", default="10000,100000,1000000", show_default=True, help="Index sizes for search scaling.")
@click.option("--dim", type=click.IntRange(1), default=None, help="Search-scaling dimension (default: the bundle's embedding dim).")
@click.option("--max-test", type=click.IntRange(2), default=1000, show_default=True, help="Test pairs to embed per variant.")
@click.option("--bag-size", type=click.IntRange(2), default=1000, show_default=True)
@click.option("--n-bags", type=click.IntRange(1), default=10, show_default=True)
@click.option("--search/--no-search", default=True, show_default=True, help="Run the search-scaling part.")
@click.option("--threads", type=click.IntRange(0), default=0, show_default=True, help="Threads for numpy/BLAS, FAISS and ONNX Runtime alike (0 = all CPUs).")
@click.option("--methods", default=",".join(METHODS), show_default=True, help="Search methods to measure.")
@click.option("--repeats", type=click.IntRange(1), default=3, show_default=True, help="Timed batched searches per method (best kept).")
@click.option("--single-queries", type=click.IntRange(1), default=30, show_default=True, help="One-at-a-time queries per method (p50).")
@click.option("--quick", is_flag=True, help="CI smoke: scales 1000, 64 test pairs, 2 bags.")
@needs_extra("seje-bench retrieval", "train")
def retrieval(bundle, data_dir, run_dir, out_dir, scales, dim, max_test, bag_size, n_bags, search, threads, methods, repeats,
              single_queries, quick):
    """MedR and R@1/5/10 per variant side by side, and search scaling (exact vs FAISS) with recall and memory."""
    from benchmarks.environment import capture_environment
    from benchmarks.report import write_report
    from benchmarks.retrieval import RetrievalConfig, run_retrieval
    from benchmarks.search_scaling import ScalingConfig, run_search_scaling
    from benchmarks.targets import retrieval_targets, search_targets
    from seje_sdk.bundle import Bundle

    default = lambda param: click.get_current_context().get_parameter_source(param) is ParameterSource.DEFAULT  # noqa: E731
    if quick:
        scales = "1000" if default("scales") else scales
        max_test = 64 if default("max_test") else max_test
        n_bags = 2 if default("n_bags") else n_bags
    chosen = tuple(m.strip() for m in methods.split(",") if m.strip())
    if set(chosen) - set(METHODS) or not chosen:  # checked before the slow part starts
        raise click.BadParameter(f"unknown methods {sorted(set(chosen) - set(METHODS))}; choose from {', '.join(METHODS)}", param_hint="--methods")
    scale_list = _ints(scales, "--scales")
    quality, anchors = run_retrieval(bundle, data_dir, run_dir, RetrievalConfig(max_test=max_test, bag_size=bag_size, n_bags=n_bags))
    report = {"kind": "retrieval", "command": _command(), "environment": capture_environment(), "quality": quality}
    targets = retrieval_targets(quality)
    if search:
        width = dim or Bundle.load(bundle, verify=False).embedding_dim
        timing = {"queries": 64, "single_queries": 5, "repeats": 1} if quick else {"repeats": repeats, "single_queries": single_queries}
        cfg = ScalingConfig(scales=scale_list, dim=width, threads=threads, methods=chosen, **timing)
        report["search"] = run_search_scaling(cfg, anchors if anchors.shape[1] == width else None)
        targets += search_targets(report["search"])
    report["targets"] = targets
    paths = write_report(report, out_dir, "retrieval")
    _print_targets(targets)
    click.echo(f"wrote {', '.join(str(p) for p in paths.values())}")


@main.command("learning-curve")
@click.option("--sizes", default="300,1000,3500", show_default=True, help="Collection sizes N (embedded recipes synthesised).")
@click.option("--options", "option_names", default="seje,fasttext", show_default=True,
              help="Options by name (benchmarks/learning_curve.py OPTIONS).")
@click.option("--seeds", default="0,1,2", show_default=True, help="Fit seeds per (N, option).")
@click.option("--work", type=click.Path(file_okay=False), default="runs/curves", show_default=True,
              help="Data, features and runs (a finished stage is reused: an interrupted curve resumes).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=str(DEFAULT_OUT), show_default=True,
              help="Report folder (learning_curve.json and .md).")
@click.option("--stem", default="learning_curve", show_default=True, help="Report file name without extension.")
@click.option("--report-only", is_flag=True, help="Tabulate the runs already finished under --work; train nothing.")
@needs_extra("seje-bench learning-curve", "train")
def learning_curve(sizes, option_names, seeds, work, out_dir, stem, report_only):
    """Features + fit + eval per collection size, option and seed: MedR, R@1, R@10 with chance and the oracle."""
    from benchmarks.learning_curve import CurveConfig, run_curve

    seed_list = tuple(int(s) for s in seeds.split(",") if s.strip())
    names = tuple(o.strip() for o in option_names.split(",") if o.strip())
    cfg = CurveConfig(sizes=_ints(sizes, "--sizes"), options=names, seeds=seed_list, work=Path(work), out=Path(out_dir), stem=stem,
                      report_only=report_only)
    report = run_curve(cfg, _command())
    click.echo(f"wrote {Path(out_dir) / (stem + '.md')} ({len(report['runs'])} runs)")


@main.command()
@click.argument("bundle", type=click.Path(exists=True, file_okay=False))
@click.option("--index", "index_dir", required=True, type=click.Path(exists=True, file_okay=False), help="index folder to serve")
@click.option("--queries", "queries_from", required=True, type=click.Path(exists=True), help="photo folder (--query image) or layer1.json (--query recipe)")
@click.option("--query", type=click.Choice(["image", "recipe"]), default="image", show_default=True)
@click.option("--clients", type=click.IntRange(1), default=16, show_default=True, help="concurrent clients")
@click.option("--requests", "n_requests", type=click.IntRange(1), default=200, show_default=True, help="requests per mode and round")
@click.option("--rounds", type=click.IntRange(1), default=3, show_default=True, help="alternating rounds of both modes")
@click.option("--time-limit", type=click.FloatRange(1), default=60.0, show_default=True, help="seconds per mode at most")
@click.option("--batch-items", type=click.IntRange(2), default=ServiceConfig.batch_items, show_default=True,
              help="the batched mode's batching window (items encoded together at most)")
@click.option("--max-wait-ms", type=click.FloatRange(0), default=ServiceConfig.max_wait_ms, show_default=True)
@click.option("--backend", default="onnxruntime", show_default=True)
@click.option("--precision", default="fp32", show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=str(DEFAULT_OUT), show_default=True)
@click.option("--writes", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="mixed case: this share of requests are live writes (PUT /items/recipe); needs --recipes")
@click.option("--recipes", "recipes_from", type=click.Path(exists=True, dir_okay=False), help="layer1.json the writes come from")
@needs_extra("seje-bench serve", "serve", "bench")
def serve(bundle, index_dir, queries_from, query, clients, n_requests, rounds, time_limit, batch_items, max_wait_ms, backend, precision, out_dir,
          writes, recipes_from):
    """Load `seje serve` on 127.0.0.1 with N concurrent clients: p50/p99 and throughput, batching on vs off (or reads + writes)."""
    from benchmarks.environment import capture_environment

    if writes > 0:
        return _serve_mixed(bundle, index_dir, queries_from, recipes_from, clients, n_requests, time_limit, writes, batch_items,
                            max_wait_ms, backend, precision, out_dir)
    from benchmarks.serve import ServeBenchConfig, run_serve_bench, write_serve_report

    cfg = ServeBenchConfig(clients=clients, requests=n_requests, rounds=rounds, time_limit_s=time_limit, query=query, batch_items=batch_items,
                           max_wait_ms=max_wait_ms, backend=backend, precision=precision)
    report = run_serve_bench(bundle, index_dir, queries_from, cfg)
    report.update(command=_command(), environment=capture_environment())
    paths = write_serve_report(report, out_dir)
    _print_targets([report["target"]])
    click.echo(f"wrote {', '.join(str(p) for p in paths.values())}")


def _serve_mixed(bundle, index_dir, photos_from, recipes_from, clients, n_requests, time_limit, writes, batch_items, max_wait_ms,
                 backend, precision, out_dir) -> None:
    """`seje-bench serve --writes SHARE`: reads and durable writes on one service."""
    from benchmarks.environment import capture_environment
    from benchmarks.serve_mixed import MixedBenchConfig, run_mixed_bench, write_mixed_report

    if not recipes_from:
        raise click.UsageError("--writes needs --recipes layer1.json (the recipes the writes put)")
    cfg = MixedBenchConfig(clients=clients, requests=n_requests, write_share=writes, time_limit_s=time_limit,
                           batch_items=batch_items, max_wait_ms=max_wait_ms, backend=backend, precision=precision)
    try:
        report = run_mixed_bench(bundle, index_dir, photos_from, recipes_from, cfg)
    except SejeError as e:
        raise _fail(e) from e
    report.update(command=_command(), environment=capture_environment())
    paths = write_mixed_report(report, out_dir)
    click.echo(f"reads p50/p99 {report['reads']['p50_ms']}/{report['reads']['p99_ms']} ms, writes p50/p99 "
               f"{report['writes']['p50_ms']}/{report['writes']['p99_ms']} ms, {report['throughput_rps']} req/s")
    click.echo(f"wrote {', '.join(str(p) for p in paths.values())}")
