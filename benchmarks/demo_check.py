"""CI's check that `scripts/demo.sh` made everything a newcomer is promised, not only that it exited 0.

Checks eval.json (with the chance and category-oracle rows), the bundle (verified like `seje info`),
the index (loads with that bundle), the rank line in the demo's log, the latency JSON/Markdown/PNG
and the summary. Run: `python -m benchmarks.demo_check OUT --log DEMO_LOG`; exit 1 lists what is missing.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from benchmarks.demo_summary import DIRECTIONS, DemoLayout
from benchmarks.report import PNG_MAGIC
from seje_sdk.errors import SejeError

# the marker line demo.sh echoes, an optional unknown-words line, the table header, its rule, a first hit
TEXT_HITS = re.compile(r"^Typed words: .*\n(?:not in the model's vocabulary.*\n)?rank +id +score +title\n[- ]+\n1 +\S+ +-?\d", re.MULTILINE)
RANK_LINE = re.compile(r"^Search: query photo \S+ was taken from recipe .*: rank \d+ of \d+ recipes", re.MULTILINE)


def _json(path: Path, problems: list[str]) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        problems.append(f"{path}: missing or not JSON ({e.__class__.__name__}: {e})")
        return None


def check_eval(layout: DemoLayout, problems: list[str]) -> None:
    """eval.json has bags, and each bag size carries the model and both reference rows in both directions."""
    report = _json(layout.eval_json, problems)
    if report is None:
        return
    if not report.get("bags"):
        problems.append(f"{layout.eval_json}: no evaluated bags")
    for bags in report.get("bags", []):
        for direction in DIRECTIONS:
            if "r1" not in bags.get(direction, {}):
                problems.append(f"{layout.eval_json}: bag size {bags.get('bag_size')}: no {direction} metrics")
            for ref in ("chance", "category_oracle"):
                if direction not in bags.get("references", {}).get(ref, {}):
                    problems.append(f"{layout.eval_json}: bag size {bags.get('bag_size')}: no {ref} reference row ({direction})")


def check_bundle_and_index(layout: DemoLayout, problems: list[str]) -> None:
    """The bundle verifies (sha256 of every file) and the index loads with it and holds recipes."""
    from seje_sdk import Retriever
    from seje_sdk.bundle import Bundle

    try:
        Bundle.load(layout.bundle, verify=True)
        retriever = Retriever.load(layout.bundle)
        retriever.load_index(layout.index)
    except SejeError as e:
        problems.append(f"bundle/index: {e}")
        return
    if not retriever.info()["index"].get("recipe"):
        problems.append(f"{layout.index}: the recipe index is empty")


def check_bench(layout: DemoLayout, problems: list[str]) -> None:
    """latency.json with measured rows, latency.md, and every plot it names as a real PNG."""
    report = _json(layout.bench / "latency.json", problems)
    if report is None:
        return
    if not any(r.get("status") == "ok" for r in report.get("rows", [])):
        problems.append(f"{layout.bench / 'latency.json'}: no measured row")
    if not (layout.bench / "latency.md").is_file():
        problems.append(f"{layout.bench / 'latency.md'}: missing")
    plots = report.get("files", {}).get("plots", {})
    if not plots:
        problems.append(f"{layout.bench / 'latency.json'}: names no plot")
    for name in plots.values():
        path = layout.bench / name
        if not path.is_file() or path.read_bytes()[:8] != PNG_MAGIC:
            problems.append(f"{path}: missing or not a PNG")


def check_summary(layout: DemoLayout, problems: list[str]) -> None:
    """summary.md exists and holds the rank line."""
    summary = layout.out / "summary.md"
    if not summary.is_file():
        problems.append(f"{summary}: missing")
    elif not RANK_LINE.search(summary.read_text(encoding="utf-8")):
        problems.append(f"{summary}: no rank line")


def check_log(printed: str, log: Path, problems: list[str]) -> None:
    """The demo printed the rank line (so a newcomer saw it, not only a file)."""
    if not RANK_LINE.search(printed):
        problems.append(f"{log}: the demo never printed the rank line (Search: query photo ... rank N of M recipes)")


def check_text_search(printed: str, log: Path, problems: list[str]) -> None:
    """The demo's typed-words search printed a table with at least one photo hit."""
    if not TEXT_HITS.search(printed):
        problems.append(f"{log}: the typed-words search (seje search --text) printed no photo hit")


def run_checks(out: str | Path, log: str | Path | None = None) -> dict[str, list[str]]:
    """{check name: its problems} for the demo folder `out` (and its log); every list empty when all is there."""
    layout = DemoLayout.under(out)
    checks = {"eval.json with references": check_eval, "bundle verifies, index loads": check_bundle_and_index,
              "latency JSON/Markdown/PNG": check_bench, "summary": check_summary}
    results = {}
    for name, check in checks.items():
        results[name] = []
        check(layout, results[name])
    if log is not None:
        log = Path(log)
        printed = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
        results["rank line printed"] = []
        check_log(printed, log, results["rank line printed"])
        results["typed-words search printed hits"] = []
        check_text_search(printed, log, results["typed-words search printed hits"])
    return results


def check_demo(out: str | Path, log: str | Path | None = None) -> list[str]:
    """Everything missing or wrong in the demo folder `out` (and its log); empty when all is there."""
    return [p for problems in run_checks(out, log).values() for p in problems]


def main(argv: list[str] | None = None) -> int:
    """`python -m benchmarks.demo_check OUT [--log LOG]`: exit 0 when complete, 1 listing each problem."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.demo_check", description=__doc__.splitlines()[0])
    parser.add_argument("out", help="the demo folder (SEJE_DEMO_DIR, default runs/demo)")
    parser.add_argument("--log", help="the demo's captured output, to find the rank line it printed")
    args = parser.parse_args(argv)
    results = run_checks(args.out, args.log)
    for name, problems in results.items():
        print(f"demo check {'ok    ' if not problems else 'FAILED'} {name}")
        for p in problems:
            print(f"    {p}")
    failed = sum(bool(p) for p in results.values())
    print(f"demo-check: {len(results) - failed} passed, {failed} failed")  # the plain closing line CI reads
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
