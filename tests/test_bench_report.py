"""The latency report's summary lines agree with the tables they sit under: each load sentence counts
exactly the rows its table shows, and each end-to-end target is graded from the rows the e2e table shows."""
from __future__ import annotations

import re

from benchmarks.report import latency_markdown
from benchmarks.targets import MET, MISSED, latency_targets

ENV = {"cpu_model": "test CPU", "cpu_logical_cores": 2, "ram_total_gib": 4.0, "gpu_reason": "none", "python": "3.11",
       "timestamp_utc": "2026-01-01T00:00:00Z", "load_average_1m_5m_15m": [3.0, 3.0, 3.0]}


def _load(over: bool) -> dict:
    return {"load_before": 3.5 if over else 0.5, "load_after": 1.0, "cpus": 2, "overloaded": over}


def _row(backend: str, encoder: str, bs: int, ratio: float | None, over: bool, precision: str = "fp32") -> dict:
    return {"backend": backend, "precision": precision, "encoder": encoder, "batch_size": bs, "status": "ok",
            "ratio_vs_pytorch": ratio, "baseline": "pytorch/fp32", "throughput": 10.0, "p50_ms": 1.0, "p90_ms": 1.0,
            "p99_ms": 1.0, "peak_rss_mib": 100.0, "iters": 3, "note": "", **_load(over)}


def _e2e(path: str, encoder: str, bs: int, overhead: float, over: bool) -> dict:
    fraction = round(1 / (1 + overhead / 100), 3)
    return {"path": path, "encoder": encoder, "precision": "fp32", "batch_size": bs, "throughput": 100 * fraction,
            "raw_throughput": 100.0, "fraction_of_raw": fraction, "overhead_pct": overhead, **_load(over)}


def _report() -> dict:
    rows = [_row("pytorch", "image", 1, 1.0, True), _row("onnxruntime-cpu", "image", 1, 5.0, False),
            _row("pytorch", "recipe", 32, 1.0, False), _row("onnxruntime-cpu", "recipe", 32, 3.0, True),
            _row("onnxruntime-cpu", "recipe", 1, None, True),  # no PyTorch baseline: no pivot cell
            {"backend": "tensorrt", "precision": "fp16", "encoder": "image", "batch_size": 1, "status": "skipped",
             "reason": "no GPU here", "load_before": None}]
    # The raw timing rows behind the e2e summary are in the JSON, not in any table.
    e2e_rows = [dict(_row("ort-session", "image-e2e", 64, None, True), backend=f"raw{i}") for i in range(4)]
    e2e = [_e2e("sdk-embed-arrays", "image-e2e", 64, 3.8, False), _e2e("sdk-embed-arrays", "image-e2e", 1, 10.7, True),
           _e2e("sdk-embed-recipes", "recipe-e2e", 32, 9.3, True), _e2e("sdk-embed-recipes", "recipe-e2e", 64, 10.7, False),
           _e2e("sdk-search-files", "image-e2e", 64, 5.0, False)]
    report = {"environment": ENV, "command": "seje-bench latency B", "run_dir": "R", "image_gflop": None,
              "bundle": {"path": "B", "fingerprint": "0" * 16, "embedding_dim": 8, "image_size": 32},
              "inputs": {"recipes": "test", "recipe_padding": [2, 3], "recipe_mean_sentences": 2.0, "e2e_images": "test"},
              "config": {"warmup": 1, "iters": 3, "threads_used": 2}, "rows": rows, "e2e_rows": e2e_rows, "e2e": e2e}
    report["targets"] = latency_targets(report)
    return report


def _tables(markdown: str) -> list[tuple[list[str], list[list[str]], str]]:
    """(header, rows, the first non-empty line after the table) for every Markdown table."""
    out, lines, i = [], markdown.splitlines(), 0
    while i < len(lines):
        if lines[i].startswith("| ") and i + 1 < len(lines) and lines[i + 1].startswith("| ---"):
            j = i + 2
            while j < len(lines) and lines[j].startswith("| "):
                j += 1
            after = next((line for line in lines[j:] if line.strip()), "")
            cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines[i:j]]
            out.append((cells[0], cells[2:], after))
            i = j
        else:
            i += 1
    return out


def _sentence_counts(line: str) -> tuple[int, int] | None:
    m = re.search(r"(\d+) of (\d+) timed rows", line) or re.search(r"All (\d+) timed rows", line)
    if m is None:
        return None
    return (int(m.group(1)), int(m.group(2))) if m.lastindex == 2 else (0, int(m.group(1)))


def test_every_load_sentence_counts_the_rows_of_its_table():
    tables = _tables(latency_markdown(_report(), {}))
    checked = 0
    for header, rows, after in tables:
        counts = _sentence_counts(after)
        if counts is None:
            continue
        over, timed = counts
        if header[0] == "backend/precision":  # the ratio pivot: one timed row per filled cell
            cells = [c for r in rows for c in r[1:] if c]
            assert (over, timed) == (sum(c.endswith("!") for c in cells), len(cells)), (after, rows)
        else:
            assert (over, timed) == (sum("OVERLOADED" in " ".join(r) for r in rows), len(rows)), (after, rows)
        checked += 1
    assert checked == 4  # pivot, image, recipe, e2e


def test_e2e_targets_agree_with_the_verdicts_the_e2e_table_shows():
    report = _report()
    md = latency_markdown(report, {})
    e2e_table = next(rows for header, rows, _ in _tables(md) if header[-1] == "target")
    verdicts: dict[str, list[str]] = {}
    for r in e2e_table:
        verdicts.setdefault(r[2], []).append(r[-1])
    got = {t["target"]: t["status"] for t in report["targets"]}
    # 10.7% at batch 1 is in the table, so the SDK-overhead target cannot be met on the 3.8% row alone.
    assert got["SDK overhead of embed_images (arrays) over the raw session < 10%"] == MISSED
    assert "worst 10.7% (fp32, batch 1) of 2 rows" in md
    assert verdicts["sdk-embed-arrays"] == [MET, MISSED]
    # embed_recipes is graded at batch 64 only (fraction 0.903 >= 0.9): the batch-32 row says it is not graded.
    assert verdicts["sdk-embed-recipes"] == ["not graded (the target names batch 64)", MET]
    assert got["embed_recipes >= 90% of the recipe graph's throughput at batch 64"] == MET
    assert verdicts["sdk-search-files"] == [MET] and got["end to end from image files >= 90% of encoder-only"] == MET
