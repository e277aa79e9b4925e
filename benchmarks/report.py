"""Reports people read: Markdown tables (command, machine, targets, results), PNG plots, and the raw JSON.

Every file is written atomically; skipped backends are listed with their reason, never dropped.
"""
from __future__ import annotations

import importlib.util
import os
import textwrap
from pathlib import Path
from typing import Any, Sequence

from benchmarks.environment import environment_summary, load_cell
from benchmarks.search_scaling import METHODS
from benchmarks.targets import e2e_verdict
from seje_sdk.io import atomic_file, write_json

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _f(x: Any, fmt: str = ".1f") -> str:
    return "" if x is None else format(x, fmt)


def _numeric(cell: Any) -> bool:
    if isinstance(cell, (int, float)) or cell == "":
        return True
    try:
        float(str(cell).replace(",", "").rstrip("x%"))
        return True
    except ValueError:
        return False


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table; numeric columns are right-aligned."""
    align = ["---:" if rows and all(_numeric(r[i]) for r in rows) else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _header(title: str, report: dict[str, Any]) -> list[str]:
    env = report["environment"]
    return [
        f"# {title}", "",
        f"- Command: `{report.get('command', '(library call)')}`",
        f"- Machine: {environment_summary(env)}",
        f"- Date (UTC): {env['timestamp_utc']}; load average {env.get('load_average_1m_5m_15m')}",
        "",
    ]


def targets_md(targets: list[dict[str, Any]]) -> str:
    return md_table(["target", "status", "under load", "detail"],
                    [[t["target"], f"**{t['status']}**", "**yes**" if t.get("overloaded") else "no", t["detail"]] for t in targets])


def load_note(rows: list[dict]) -> str:
    """A sentence for every table: how many of its rows ran while the load exceeded the CPUs."""
    timed = [r for r in rows if r.get("load_before") is not None]
    over = [r for r in timed if r.get("overloaded")]
    if not timed:
        return ""
    if not over:
        return f"All {len(timed)} timed rows ran with the 1-minute load at or below the CPU count."
    return (f"**{len(over)} of {len(timed)} timed rows ran while the 1-minute load exceeded the CPU count** "
            "(marked OVERLOADED in the load column; ! in the ratio table): their absolute numbers are "
            "slowed by other work, and backends suffer unequally from it.")


def _skipped_md(rows: list[dict]) -> str:
    """Skipped/failed backends once each, with their reason and the batch sizes concerned."""
    groups: dict[tuple, list[int]] = {}
    for r in rows:
        if r["status"] != "ok":
            groups.setdefault((r["backend"], r["precision"], r["status"], r.get("reason", "")), []).append(r["batch_size"])
    return md_table(["backend", "precision", "status", "batch sizes", "reason"],
                    [[b, p, s, ", ".join(map(str, sorted(set(bs)))), why] for (b, p, s, why), bs in groups.items()])


def pivot_rows(rows: list[dict]) -> list[dict]:
    """The rows the ratio pivot shows a cell for: measured, with a PyTorch ratio."""
    return [r for r in rows if r["status"] == "ok" and r.get("ratio_vs_pytorch") is not None]


def ratio_pivot_md(rows: list[dict]) -> str:
    """Headline: throughput ratio to the best PyTorch row, backend/precision x (encoder, batch size)."""
    shown = pivot_rows(rows)
    if not shown:
        return "No PyTorch baseline in this run (pass --run RUN_DIR): no ratios."
    cols = sorted({(r["encoder"], r["batch_size"]) for r in shown})
    names = list(dict.fromkeys(f"{r['backend']}/{r['precision']}" for r in shown))
    cell = {(f"{r['backend']}/{r['precision']}", r["encoder"], r["batch_size"]): r for r in shown}
    def text(r: dict | None) -> str:
        if r is None:
            return ""
        return _f(r["ratio_vs_pytorch"], ".2f") + "x" + (" !" if r.get("overloaded") else "")

    body = [[name] + [text(cell.get((name, e, b))) for e, b in cols] for name in names]
    return md_table(["backend/precision"] + [f"{e} b{b}" for e, b in cols], body)


def latency_markdown(report: dict[str, Any], plots: dict[str, str]) -> str:
    """The latency report: targets, one table per encoder (ratio first), skipped rows, e2e, plots."""
    out = _header("seje-bench latency", report)
    out += [f"- Bundle: `{report['bundle']['path']}` (fingerprint {report['bundle']['fingerprint'][:12]}, "
            f"{report['bundle']['embedding_dim']}-d, image {report['bundle']['image_size']} px); run: `{report['run_dir']}`",
            f"- Inputs: {report['inputs']['recipes']}; padded recipe batch up to {report['inputs']['recipe_padding']} "
            f"(sentences x tokens), {report['inputs']['recipe_mean_sentences']:.1f} sentences on average; "
            f"end-to-end images: {report['inputs']['e2e_images']}",
            f"- Image encoder cost: {_f(report.get('image_gflop'), '.2f') or 'unknown (no --run)'} GFLOP per image "
            "(torch FlopCounterMode); GFLOP/s = items/s x that.",
            f"- Timing: {report['config']['warmup']} warm-up + up to {report['config']['iters']} timed iterations, "
            f"interleaved round-robin across backends per (encoder, batch); threads: {report['config']['threads_used']}. "
            "Ratio = throughput / best PyTorch row (eager or torch.compile) of the same encoder and batch. "
            "Peak RSS is the whole process while that case ran (all backends share one process). "
            "Each row records the 1-minute load average before and after its group and the CPU count.", "",
            "## Targets", "", targets_md(report["targets"]), "",
            "## Speed-up over PyTorch (throughput ratio; b = batch size)", "", ratio_pivot_md(report["rows"]), "",
            load_note(pivot_rows(report["rows"])), ""]
    for encoder in ("image", "recipe"):
        rows = [r for r in report["rows"] if r["encoder"] == encoder]
        if not rows:
            continue
        ok = sorted((r for r in rows if r["status"] == "ok"), key=lambda r: (r["batch_size"], r["backend"], r["precision"]))
        out += [f"## {encoder.capitalize()} encoder", "", md_table(
            ["batch", "backend", "precision", "x PyTorch", "items/s", "p50 ms", "p90 ms", "p99 ms", "GFLOP/s", "peak RSS MiB", "iters",
             "load before -> after / CPUs", "note"],
            [[r["batch_size"], r["backend"], r["precision"], _f(r["ratio_vs_pytorch"], ".2f"), _f(r["throughput"]),
              _f(r["p50_ms"], ".2f"), _f(r["p90_ms"], ".2f"), _f(r["p99_ms"], ".2f"), _f(r.get("gflop_per_s")),
              _f(r["peak_rss_mib"], ".0f"), r["iters"], load_cell(r), r["note"]] for r in ok]), "", load_note(ok), ""]
        if any(r["status"] != "ok" for r in rows):
            out += [f"Not measured ({encoder}):", "", _skipped_md(rows), ""]
        if encoder in plots:
            out += [f"![{encoder} encoder latency and throughput]({plots[encoder]})", ""]
    if report.get("e2e"):
        out += ["## End to end and SDK overhead", "",
                "Throughput of the SDK path as a fraction of the raw ONNX Runtime session at the same batch size: the "
                "faster of the bare session with ORT's spin-waiting threads (raw-session) and with blocking ones "
                "(raw-session-blocking, the SDK's setting); overhead = raw/SDK - 1. The last column is what the "
                "Targets table draws from the row.", "",
                md_table(["encoder", "precision", "path", "batch", "items/s", "raw items/s", "raw", "fraction", "overhead %",
                          "load before -> after / CPUs", "target"],
                         [[r["encoder"], r["precision"], r["path"], r["batch_size"], _f(r["throughput"]), _f(r["raw_throughput"]),
                           r.get("raw_path", "raw-session"), _f(r["fraction_of_raw"], ".2f"), _f(r["overhead_pct"]),
                           load_cell(r), e2e_verdict(r)]
                          for r in report["e2e"]]), "",
                load_note(report["e2e"]), ""]
    return "\n".join(out)


def retrieval_markdown(report: dict[str, Any], plots: dict[str, str]) -> str:
    """The retrieval report: targets, quality per variant side by side, search scaling table and plot."""
    out = _header("seje-bench retrieval", report)
    quality = report.get("quality")
    out += ["## Targets", "", targets_md(report["targets"]), ""]
    if quality:
        rows = []
        for r in quality["rows"]:
            if r["status"] != "ok":
                rows.append([r["backend"], r["precision"], f"{r['status']}: {r.get('reason', '')}"] + [""] * 9)
                continue
            b = r["bags"]
            cells = [_f(b[d][m]["mean"]) for d in ("image_to_recipe", "recipe_to_image") for m in ("medr", "r1", "r5", "r10")]
            cos = r.get("cosine_vs_pytorch")
            cos_cell = f"{cos['image']['min']:.5f} / {cos['recipe']['min']:.5f}" if cos else ""
            rows.append([r["backend"], r["precision"], "ok"] + cells + [cos_cell])
        bag = next((r["bags"] for r in quality["rows"] if r["status"] == "ok"), None)
        bag_note = f"bags of {bag['bag_size']} pairs x {bag['n_bags']} (mean)" if bag else "no variant ran"
        out += ["## Retrieval quality per variant", "",
                f"{quality['n_test']} test pairs from `{quality['data_dir']}`; {bag_note}. R@K in percent. "
                "Last column: minimum per-item cosine to the PyTorch embedding (image / recipe).", "",
                md_table(["backend", "precision", "status", "i2r MedR", "i2r R@1", "i2r R@5", "i2r R@10",
                          "r2i MedR", "r2i R@1", "r2i R@5", "r2i R@10", "min cos vs PyTorch"], rows), ""]
    search = report.get("search")
    if search:
        out += ["## Search scaling", "",
                f"Top-{search['k']} over {search['dim']}-d unit vectors, {search['queries']} queries per batch (QPS) and "
                f"single queries (p50). Vectors: {search['vectors']}. Recall@{search['k']} is against exact numpy fp32. "
                f"Threads: {search['threads']['threads']} for numpy/BLAS, FAISS and ONNX Runtime alike "
                f"(BLAS/OpenMP limits: {search['threads']['blas_openmp']}). RAM GiB/M: what must stay resident per million "
                "vectors for full speed; disk GiB/M: what is stored (memory-mapped files included). Build s and peak RSS are "
                "per kind (a swept setting shares its kind's build); peak RSS is the whole process, memory-mapped pages included.", "",
                md_table(["vectors", "method", "setting", "status", "build s", "peak RSS MiB", "RSS growth MiB", "RAM GiB/M", "disk GiB/M",
                          "QPS", "x numpy", "single p50 ms", "recall", "load before -> after / CPUs", "note"],
                         [[f"{r['n']:,}", r["method"], r.get("setting", ""), r["status"], _f(r.get("build_s"), ".2f"),
                           _f(r.get("peak_rss_mib"), ".0f"), _f(r.get("rss_growth_mib"), ".0f"),
                           _f(r.get("ram_gib_per_million"), ".2f"), _f(r.get("disk_gib_per_million"), ".2f"),
                           _f(r.get("qps")), _f(r.get("qps_vs_numpy"), ".2f"), _f(r.get("single_query_p50_ms"), ".2f"),
                           _f(r.get("recall_at_k"), ".3f"), load_cell(r), r.get("note", r.get("reason", ""))] for r in search["rows"]]), "",
                load_note(search["rows"]), ""]
        if "search" in plots:
            out += [f"![search scaling]({plots['search']})", ""]
    return "\n".join(out)


def _save_png(fig: Any, path: Path) -> None:
    with atomic_file(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110, bbox_inches="tight")


# One colour per backend/precision (latency plots) and per search method, in every plot and whatever
# subset a run measured: the colour is the series' place in its list, never its order of appearance.
LATENCY_SERIES = ("pytorch/fp32", "pytorch+compile/fp32", "onnxruntime-cpu/fp32", "onnxruntime-cpu+bucket/fp32",
                  "onnxruntime-cpu/int8", "onnxruntime-cpu+bucket/int8", "onnxruntime-cuda/fp32", "onnxruntime-cuda/fp16",
                  "tensorrt/fp32", "tensorrt/fp16")
SEARCH_SERIES = METHODS


def series_colour(name: str) -> Any:
    """A fixed tab10 colour for a series name (its place in LATENCY_SERIES or SEARCH_SERIES)."""
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    for series in (LATENCY_SERIES, SEARCH_SERIES):
        if name in series:
            return cmap(series.index(name) % cmap.N)
    return cmap(sum(map(ord, name)) % cmap.N)


def caption(report: dict[str, Any], plotted: list[dict]) -> str:
    """Plot caption: the command, the machine, the load when written and how many of the plotted rows ran overloaded."""
    env = report["environment"]
    timed = [r for r in plotted if r.get("load_before") is not None]
    over = sum(1 for r in timed if r.get("overloaded"))
    return "\n".join(textwrap.wrap(f"{report.get('command', '(library call)')}", 150) + textwrap.wrap(
        f"{environment_summary(env)}; {env['timestamp_utc']}; load average {env.get('load_average_1m_5m_15m')} when written; "
        f"{over} of {len(timed)} timed rows measured with load > CPUs (hollow markers)", 150))


def _finish(fig: Any, axes: Sequence[Any], report: dict[str, Any], plotted: list[dict], path: Path) -> None:
    """Legend outside the axes (never over the data), caption under them, then save."""
    handles, labels = axes[-1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.0, 0.95), fontsize=8, frameon=False)
    fig.text(0.0, -0.02, caption(report, plotted), fontsize=7, va="top", ha="left", family="monospace")
    fig.tight_layout()
    _save_png(fig, path)


def _plot_series(ax: Any, xs: Sequence[float], ys: Sequence[float], over: Sequence[bool], name: str, marker: str = "o") -> None:
    colour = series_colour(name.split(" ")[0])
    ax.plot(xs, ys, color=colour, marker=marker, label=name)
    hollow = [(x, y) for x, y, o in zip(xs, ys, over) if o]
    if hollow:  # hollow markers: measured while the load exceeded the CPUs
        ax.plot(*zip(*hollow), marker=marker, color=colour, markerfacecolor="white", linestyle="none")


def latency_plots(report: dict[str, Any], out_dir: Path) -> dict[str, str]:
    """latency_<encoder>.png: p50 latency and throughput vs batch size, one colour per backend/precision."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = {}
    for encoder in ("image", "recipe"):
        ok = [r for r in report["rows"] if r["encoder"] == encoder and r["status"] == "ok"]
        if not ok:
            continue
        fig, (ax_lat, ax_thr) = plt.subplots(1, 2, figsize=(11, 4.2))
        for name in sorted({f"{r['backend']}/{r['precision']}" for r in ok}, key=lambda n: (n not in LATENCY_SERIES, LATENCY_SERIES.index(n) if n in LATENCY_SERIES else 0, n)):
            pts = sorted((r["batch_size"], r["p50_ms"], r["throughput"], bool(r.get("overloaded"))) for r in ok
                         if f"{r['backend']}/{r['precision']}" == name)
            bs, lat, thr, over = zip(*pts)
            _plot_series(ax_lat, bs, lat, over, name)
            _plot_series(ax_thr, bs, thr, over, name)
        for ax, label in ((ax_lat, "p50 latency per batch (ms)"), (ax_thr, "throughput (items/s)")):
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("batch size")
            ax.set_ylabel(label)
            ax.grid(True, which="both", alpha=0.3)
        fig.suptitle(f"{encoder} encoder")
        name = f"latency_{encoder}.png"
        _finish(fig, (ax_lat, ax_thr), report, ok, out_dir / name)
        plt.close(fig)
        files[encoder] = name
    return files


def search_plot(report: dict[str, Any], out_dir: Path) -> dict[str, str]:
    """search_scaling.png: QPS and recall vs index size per method and setting (one colour per method)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    search = report["search"]
    ok = [r for r in search["rows"] if r["status"] == "ok"]
    if not ok:
        return {}
    fig, (ax_qps, ax_rec) = plt.subplots(1, 2, figsize=(11, 4.2))
    markers = "os^Dv"
    for method in dict.fromkeys(r["method"] for r in ok):
        settings = list(dict.fromkeys(r.get("setting", "") for r in ok if r["method"] == method))
        for j, setting in enumerate(settings):
            pts = sorted((r["n"], r["qps"], r["recall_at_k"], bool(r.get("overloaded"))) for r in ok
                         if r["method"] == method and r.get("setting", "") == setting)
            n, qps, rec, over = zip(*pts)
            label = f"{method} {setting}".strip()
            _plot_series(ax_qps, n, qps, over, label, markers[j % len(markers)])
            _plot_series(ax_rec, n, rec, over, label, markers[j % len(markers)])
    ax_qps.set(xscale="log", yscale="log", xlabel="indexed vectors", ylabel=f"QPS (top-{search['k']}, batched)")
    ax_rec.set(xscale="log", xlabel="indexed vectors", ylabel=f"recall@{search['k']} vs exact")
    for ax in (ax_qps, ax_rec):
        ax.grid(True, which="both", alpha=0.3)
    _finish(fig, (ax_qps, ax_rec), report, ok, out_dir / "search_scaling.png")
    plt.close(fig)
    return {"search": "search_scaling.png"}


def write_json_and_markdown(out: str | os.PathLike, report: dict[str, Any], markdown: str) -> None:
    """Write OUT.json (the report) and OUT.md (its table), each atomically: what one-table benchmarks leave."""
    out = Path(out)
    write_json(out.with_suffix(".json"), report)
    with atomic_file(out.with_suffix(".md"), "w") as f:
        f.write(markdown.rstrip("\n") + "\n")


def write_report(report: dict[str, Any], out_dir: str | os.PathLike, stem: str) -> dict[str, Path]:
    """Write <stem>.json, <stem>.md and the plots into out_dir; returns the paths written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plots, skipped = {}, None
    if importlib.util.find_spec("matplotlib") is None:  # a plain seje[cpu] install: tables only
        skipped = "plots need matplotlib: pip install 'seje[bench]'"
    elif stem == "latency":
        plots = latency_plots(report, out_dir)
    elif report.get("search"):
        plots = search_plot(report, out_dir)
    markdown = latency_markdown(report, plots) if stem == "latency" else retrieval_markdown(report, plots)
    if skipped:
        markdown += f"\n\n({skipped})"
    report["files"] = {"markdown": f"{stem}.md", "plots": plots, **({"plots_skipped": skipped} if skipped else {})}
    write_json(out_dir / f"{stem}.json", report)
    with atomic_file(out_dir / f"{stem}.md", "w") as f:
        f.write(markdown + "\n")
    return {"json": out_dir / f"{stem}.json", "markdown": out_dir / f"{stem}.md", **{k: out_dir / v for k, v in plots.items()}}
