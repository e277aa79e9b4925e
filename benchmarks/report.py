"""Reports people read: Markdown tables (command, machine, targets, results), PNG plots, and the raw JSON.

Every file is written atomically; skipped backends are listed with their reason, never dropped.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from benchmarks.environment import environment_summary
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


def targets_md(targets: list[dict[str, str]]) -> str:
    return md_table(["target", "status", "detail"], [[t["target"], f"**{t['status']}**", t["detail"]] for t in targets])


def _skipped_md(rows: list[dict]) -> str:
    """Skipped/failed backends once each, with their reason and the batch sizes concerned."""
    groups: dict[tuple, list[int]] = {}
    for r in rows:
        if r["status"] != "ok":
            groups.setdefault((r["backend"], r["precision"], r["status"], r.get("reason", "")), []).append(r["batch_size"])
    return md_table(["backend", "precision", "status", "batch sizes", "reason"],
                    [[b, p, s, ", ".join(map(str, sorted(set(bs)))), why] for (b, p, s, why), bs in groups.items()])


def ratio_pivot_md(rows: list[dict]) -> str:
    """Headline: throughput ratio to the best PyTorch row, backend/precision x (encoder, batch size)."""
    if not any(r.get("ratio_vs_pytorch") for r in rows):
        return "No PyTorch baseline in this run (pass --run RUN_DIR): no ratios."
    cols = sorted({(r["encoder"], r["batch_size"]) for r in rows if r["status"] == "ok"})
    names = list(dict.fromkeys(f"{r['backend']}/{r['precision']}" for r in rows if r["status"] == "ok"))
    cell = {(f"{r['backend']}/{r['precision']}", r["encoder"], r["batch_size"]): r for r in rows if r["status"] == "ok"}
    body = [[name] + [_f(cell[(name, e, b)]["ratio_vs_pytorch"], ".2f") + "x" if (name, e, b) in cell and
                      cell[(name, e, b)]["ratio_vs_pytorch"] is not None else "" for e, b in cols] for name in names]
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
            "Peak RSS is the whole process while that case ran (all backends share one process).", "",
            "## Targets", "", targets_md(report["targets"]), "",
            "## Speed-up over PyTorch (throughput ratio; b = batch size)", "", ratio_pivot_md(report["rows"]), ""]
    for encoder in ("image", "recipe"):
        rows = [r for r in report["rows"] if r["encoder"] == encoder]
        if not rows:
            continue
        ok = sorted((r for r in rows if r["status"] == "ok"), key=lambda r: (r["batch_size"], r["backend"], r["precision"]))
        out += [f"## {encoder.capitalize()} encoder", "", md_table(
            ["batch", "backend", "precision", "x PyTorch", "items/s", "p50 ms", "p90 ms", "p99 ms", "GFLOP/s", "peak RSS MiB", "iters", "note"],
            [[r["batch_size"], r["backend"], r["precision"], _f(r["ratio_vs_pytorch"], ".2f"), _f(r["throughput"]),
              _f(r["p50_ms"], ".2f"), _f(r["p90_ms"], ".2f"), _f(r["p99_ms"], ".2f"), _f(r.get("gflop_per_s")),
              _f(r["peak_rss_mib"], ".0f"), r["iters"], r["note"]] for r in ok]), ""]
        if any(r["status"] != "ok" for r in rows):
            out += [f"Not measured ({encoder}):", "", _skipped_md(rows), ""]
        if encoder in plots:
            out += [f"![{encoder} encoder latency and throughput]({plots[encoder]})", ""]
    if report.get("e2e"):
        out += ["## End to end and SDK overhead", "",
                "Throughput of the SDK path as a fraction of the raw ONNX Runtime session at the same batch size "
                "(overhead = raw/SDK - 1).", "",
                md_table(["encoder", "precision", "path", "batch", "items/s", "raw items/s", "fraction", "overhead %"],
                         [[r["encoder"], r["precision"], r["path"], r["batch_size"], _f(r["throughput"]), _f(r["raw_throughput"]),
                           _f(r["fraction_of_raw"], ".2f"), _f(r["overhead_pct"])] for r in report["e2e"]]), ""]
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
                f"single queries (p50). Vectors: {search['vectors']}. Recall@{search['k']} is against exact numpy fp32.", "",
                md_table(["vectors", "method", "status", "build s", "GiB / M vectors", "QPS", "x numpy", "single p50 ms", "recall", "note"],
                         [[f"{r['n']:,}", r["method"], r["status"], _f(r.get("build_s"), ".2f"), _f(r.get("gib_per_million"), ".2f"),
                           _f(r.get("qps")), _f(r.get("qps_vs_numpy"), ".2f"), _f(r.get("single_query_p50_ms"), ".2f"),
                           _f(r.get("recall_at_k"), ".3f"), r.get("note", r.get("reason", ""))] for r in search["rows"]]), ""]
        if "search" in plots:
            out += [f"![search scaling]({plots['search']})", ""]
    return "\n".join(out)


def _save_png(fig: Any, path: Path) -> None:
    with atomic_file(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110, bbox_inches="tight")


def latency_plots(rows: list[dict], out_dir: Path) -> dict[str, str]:
    """latency_<encoder>.png: p50 latency and throughput vs batch size, one line per backend/precision."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = {}
    for encoder in ("image", "recipe"):
        ok = [r for r in rows if r["encoder"] == encoder and r["status"] == "ok"]
        if not ok:
            continue
        fig, (ax_lat, ax_thr) = plt.subplots(1, 2, figsize=(11, 4.2))
        for name in sorted({f"{r['backend']}/{r['precision']}" for r in ok}):
            pts = sorted((r["batch_size"], r["p50_ms"], r["throughput"]) for r in ok if f"{r['backend']}/{r['precision']}" == name)
            bs, lat, thr = zip(*pts)
            ax_lat.plot(bs, lat, marker="o", label=name)
            ax_thr.plot(bs, thr, marker="o", label=name)
        for ax, label in ((ax_lat, "p50 latency per batch (ms)"), (ax_thr, "throughput (items/s)")):
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("batch size")
            ax.set_ylabel(label)
            ax.grid(True, which="both", alpha=0.3)
        ax_thr.legend(fontsize=8)
        fig.suptitle(f"{encoder} encoder")
        name = f"latency_{encoder}.png"
        _save_png(fig, out_dir / name)
        plt.close(fig)
        files[encoder] = name
    return files


def search_plot(search: dict[str, Any], out_dir: Path) -> dict[str, str]:
    """search_scaling.png: QPS and recall vs index size per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in search["rows"] if r["status"] == "ok"]
    if not ok:
        return {}
    fig, (ax_qps, ax_rec) = plt.subplots(1, 2, figsize=(11, 4.2))
    for method in dict.fromkeys(r["method"] for r in ok):
        pts = sorted((r["n"], r["qps"], r["recall_at_k"]) for r in ok if r["method"] == method)
        n, qps, rec = zip(*pts)
        ax_qps.plot(n, qps, marker="o", label=method)
        ax_rec.plot(n, rec, marker="o", label=method)
    ax_qps.set(xscale="log", yscale="log", xlabel="indexed vectors", ylabel=f"QPS (top-{search['k']}, batched)")
    ax_rec.set(xscale="log", xlabel="indexed vectors", ylabel=f"recall@{search['k']} vs exact")
    for ax in (ax_qps, ax_rec):
        ax.grid(True, which="both", alpha=0.3)
    ax_qps.legend(fontsize=8)
    _save_png(fig, out_dir / "search_scaling.png")
    plt.close(fig)
    return {"search": "search_scaling.png"}


def write_report(report: dict[str, Any], out_dir: str | os.PathLike, stem: str) -> dict[str, Path]:
    """Write <stem>.json, <stem>.md and the plots into out_dir; returns the paths written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if stem == "latency":
        plots = latency_plots(report["rows"], out_dir)
        markdown = latency_markdown(report, plots)
    else:
        plots = search_plot(report["search"], out_dir) if report.get("search") else {}
        markdown = retrieval_markdown(report, plots)
    report["files"] = {"markdown": f"{stem}.md", "plots": plots}
    write_json(out_dir / f"{stem}.json", report)
    with atomic_file(out_dir / f"{stem}.md", "w") as f:
        f.write(markdown + "\n")
    return {"json": out_dir / f"{stem}.json", "markdown": out_dir / f"{stem}.md", **{k: out_dir / v for k, v in plots.items()}}
