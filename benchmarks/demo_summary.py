"""The last screen of `scripts/demo.sh`: what the main job measured, in a dozen lines a newcomer can read.

It reads what the demo wrote (eval.json, the bundle, the index, the latency report), ranks the query
photo against every indexed recipe, prints the summary and writes it to OUT/summary.md and
OUT/summary.json. Run: `python -m benchmarks.demo_summary OUT --query PHOTO`.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.report import md_table, pivot_rows
from seje_sdk.errors import InputError, SejeError
from seje_sdk.io import atomic_file, write_json

DIRECTIONS = ("image_to_recipe", "recipe_to_image")
METRICS = ("medr", "r1", "r5", "r10")
RANKERS = (("SEJE (this run)", None), ("category-only oracle", "category_oracle"), ("chance", "chance"))


@dataclass(frozen=True)
class DemoLayout:
    """Where `scripts/demo.sh` writes each stage's output under one folder."""

    out: Path
    data: Path
    run: Path
    bundle: Path
    index: Path
    bench: Path

    @classmethod
    def under(cls, out: str | os.PathLike) -> "DemoLayout":
        out = Path(out)
        return cls(out, out / "data", out / "run", out / "bundle", out / "index", out / "bench")

    @property
    def eval_json(self) -> Path:
        return self.run / "eval.json"


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise InputError(f"{path}: missing (the demo stage that writes it did not finish)")
    return json.loads(path.read_text(encoding="utf-8"))


def eval_table(report: dict[str, Any]) -> str:
    """SEJE beside the category-only oracle and chance, both directions, at the first evaluated bag size."""
    bags = report["bags"][0]
    rows = []
    for direction in DIRECTIONS:
        for name, key in RANKERS:
            values = bags[direction] if key is None else bags.get("references", {}).get(key, {}).get(direction)
            if values is None:
                continue
            cells = [values[m]["mean"] if isinstance(values[m], dict) else values[m] for m in METRICS]
            rows.append([direction.replace("_to_", " -> "), name] + [f"{c:.1f}" for c in cells])
    size = f"{bags['bag_size']} pairs" + (" (the full test set)" if bags.get("full_set") else f", mean of {bags['n_bags']} bags")
    return (f"Retrieval on the test split ({size}; MedR: lower is better, R@K in %):\n\n"
            + md_table(["direction", "ranker", "MedR", "R@1", "R@5", "R@10"], rows))


def query_rank(layout: DemoLayout, query: Path, k: int = 5) -> dict[str, Any]:
    """The query photo's recipe, its true rank among every indexed recipe, the top-k titles, and the runtime used."""
    from seje_sdk import Retriever
    from seje_sdk.catalog import hit_title, read_catalog

    layer2 = _read_json(layout.data / "layer2.json")
    owner = next((r["id"] for r in layer2 if any(i["id"] == query.name for i in r["images"])), None)
    if owner is None:
        raise InputError(f"{query}: not a photo of any recipe in {layout.data / 'layer2.json'}")
    title = next(r["title"] for r in _read_json(layout.data / "layer1.json") if r["id"] == owner)
    retriever = Retriever.load(layout.bundle)
    retriever.load_index(layout.index)
    info = retriever.info()
    ranked = retriever.search(images=[str(query)], k=info["index"]["recipe"])[0]
    ids = [i for i, _ in ranked]
    catalog = read_catalog(layout.index)
    return {"photo": query.name, "recipe_id": owner, "title": title, "n_recipes": len(ids),
            "rank": ids.index(owner) + 1 if owner in ids else None,
            "top": [{"id": i, "score": round(float(s), 4), "title": hit_title(catalog, "recipe", i)} for i, s in ranked[:k]],
            "backend": info["backend"], "precision": info["precision"], "variants": info["variants"]}


def rank_line(q: dict[str, Any]) -> str:
    """The line CI looks for: the query photo's recipe and its rank among all indexed recipes."""
    where = f"rank {q['rank']} of {q['n_recipes']} recipes" if q["rank"] else f"not among the {q['n_recipes']} indexed recipes"
    return (f"query photo {q['photo']} was taken from recipe {q['recipe_id']} ({q['title']!r}): "
            f"{where} (the rank MedR measures)")


def bench_lines(report: dict[str, Any]) -> list[str]:
    """Throughput ratio to the best PyTorch row per (encoder, batch size), as the latency report's pivot shows it."""
    rows = pivot_rows(report.get("rows", []))
    if not rows:
        return ["no PyTorch baseline in the latency report: no ratios"]
    out = []
    for encoder, batch in sorted({(r["encoder"], r["batch_size"]) for r in rows}):
        group = [r for r in rows if (r["encoder"], r["batch_size"]) == (encoder, batch)]
        cells = [f"{r['backend']}/{r['precision']} {r['ratio_vs_pytorch']:.2f}x" for r in group if not r["backend"].startswith("pytorch")]
        load = " (measured while the load exceeded the CPUs)" if any(r.get("overloaded") for r in group) else ""
        out.append(f"{encoder} encoder, batch {batch}: " + (", ".join(cells) or "PyTorch only") + load)
    return out


def render(layout: DemoLayout, evaluation: dict[str, Any], q: dict[str, Any], bench: dict[str, Any]) -> str:
    """The summary text (Markdown that reads as plain text in a terminal)."""
    variants = ", ".join(f"{b}: {'/'.join(p) or 'none'}" for b, p in q["variants"].items())
    top = [f"  {n}. {h['title'] or h['id']}  (score {h['score']:.3f})" + ("  <- the query's recipe" if h["id"] == q["recipe_id"] else "")
           for n, h in enumerate(q["top"], 1)]
    files = [("data (Recipe1M layout)", layout.data), ("features", layout.out / "features"), ("run + eval.json", layout.run),
             ("bundle", layout.bundle), ("index", layout.index), ("benchmark (latency.md/.json/.png)", layout.bench),
             ("this summary", layout.out / "summary.md")]
    return "\n".join([
        "# seje demo: summary", "", eval_table(evaluation), "",
        f"Search: {rank_line(q)}", f"Top {len(top)} recipes for that photo:", *top, "",
        f"Runtime: backend {q['backend']}, precision {q['precision']} (bundle variants: {variants})", "",
        "Encoder throughput vs the best PyTorch row (seje-bench latency; details in bench/latency.md):", *[f"  {line}" for line in bench_lines(bench)], "",
        "Written:", *[f"  {name:<36} {path}" for name, path in files], ""])


def write_summary(out: str | os.PathLike, query: str | os.PathLike) -> str:
    """Build the summary from the demo folder `out`, write summary.md/.json there, return the text."""
    layout = DemoLayout.under(out)
    evaluation = _read_json(layout.eval_json)
    bench = _read_json(layout.bench / "latency.json")
    q = query_rank(layout, Path(query))
    text = render(layout, evaluation, q, bench)
    with atomic_file(layout.out / "summary.md", "w") as f:
        f.write(text)
    write_json(layout.out / "summary.json", {"query": q, "eval_bags": evaluation["bags"][0], "bench_ratios": bench_lines(bench)})
    return text


def main(argv: list[str] | None = None) -> int:
    """`python -m benchmarks.demo_summary OUT --query PHOTO`: print the summary; exit 2 on a missing input."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.demo_summary", description=__doc__.splitlines()[0])
    parser.add_argument("out", help="the demo folder (SEJE_DEMO_DIR, default runs/demo)")
    parser.add_argument("--query", required=True, help="the query photo (a test image of the demo data)")
    args = parser.parse_args(argv)
    try:
        print(write_summary(args.out, args.query))
    except SejeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
