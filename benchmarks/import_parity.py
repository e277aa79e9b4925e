"""Imported vs native layout: the JSONL export, the derived names' agreement, the retrieval table.

    python -m benchmarks.import_parity export runs/demo/data runs/imp/export.jsonl
    seje-train import runs/imp/export.jsonl --out runs/imp/after/data --images-root runs/demo/data
    (features, fit --seed S, eval --bag-sizes 1000 for each data folder)
    python -m benchmarks.import_parity report --native runs/demo/data --out benchmarks/results/import_parity \
        "native=runs/demo/data:runs/imp/native/s0,runs/imp/native/s1" "after=runs/imp/after/data:RUN,RUN" ...

`export` writes what a user's export holds (ids, titles, lines, partitions, photo paths relative
to the folder) and nothing of det_ingrs.json or classes1M.pkl. `report` reads each row's data
folder and evaluated runs and writes OUT.json and OUT.md: retrieval (mean and sd over the runs),
the category-only oracle of the row's own categories, chance, and how the row's training
ingredient names compare with the native det_ingrs (a diagnostic only: the importer never reads
them). Measures nothing itself.
"""
from __future__ import annotations

import json
import os
import platform
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import click
import numpy as np

from benchmarks.report import md_table
from seje_sdk.errors import InputError
from benchmarks.report import write_json_and_markdown
from seje_sdk.io import atomic_file

DIRECTIONS = ("image_to_recipe", "recipe_to_image")
METRICS = ("medr", "r1", "r10")


def _load(path: Path) -> Any:
    if not path.is_file():
        raise InputError(f"{path} is missing")
    return json.loads(path.read_text(encoding="utf-8"))


def export_jsonl(data_dir: Path, out: Path) -> int:
    """Write a Recipe1M-layout folder as a user's JSONL export; return the number of rows."""
    photos = {r["id"]: [i["id"] for i in r["images"]] for r in _load(data_dir / "layer2.json")}
    recipes = _load(data_dir / "layer1.json")
    with atomic_file(out, "w") as f:
        for r in recipes:
            paths = [f"images/{r['partition']}/{'/'.join(p[:4])}/{p}" for p in photos.get(r["id"], [])]
            f.write(json.dumps({"id": r["id"], "title": r["title"], "partition": r["partition"], "images": paths,
                                "ingredients": [x["text"] for x in r["ingredients"]],
                                "instructions": [x["text"] for x in r["instructions"]]}, ensure_ascii=False) + "\n")
    return len(recipes)


def name_agreement(data_dir: Path, native_dir: Path) -> dict[str, Any]:
    """Training lines' names in `data_dir` vs the native det_ingrs: distinct names, equal share, purity."""
    partition = {r["id"]: r["partition"] for r in _load(data_dir / "layer1.json")}
    native = {r["id"]: [i["text"] for i in r["ingredients"]] for r in _load(native_dir / "det_ingrs.json")}
    pairs = [(x["text"], nat) for r in _load(data_dir / "det_ingrs.json") if partition[r["id"]] == "train"
             for x, nat in zip(r["ingredients"], native[r["id"]])]
    by_name: dict[str, Counter] = defaultdict(Counter)
    for name, nat in pairs:
        by_name[name][nat] += 1
    return {"train_lines": len(pairs), "distinct_names": len(by_name), "distinct_native": len({n for _, n in pairs}),
            "equal_native": round(100 * sum(a == b for a, b in pairs) / len(pairs), 1),
            # share of lines whose native name is the majority native name of their own name: merges that are wrong lower it
            "purity": round(100 * sum(c.most_common(1)[0][1] for c in by_name.values()) / len(pairs), 1)}


def run_metrics(run_dir: Path) -> dict[str, Any]:
    """1k-bag retrieval and references of one evaluated run."""
    bag = next(b for b in _load(run_dir / "eval.json")["bags"] if b["requested_bag_size"] == 1000)
    out = {d: {m: bag[d][m]["mean"] for m in METRICS} for d in DIRECTIONS}
    refs = bag["references"]
    out["oracle"] = {m: refs["category_oracle"]["image_to_recipe"][m] for m in ("medr", "r1")}
    out["chance"] = {m: refs["chance"]["image_to_recipe"][m] for m in ("medr", "r1")}
    out["seed"] = _load(run_dir / "config.json").get("seed")
    return out


def row(label: str, data_dir: Path, runs: list[Path], native_dir: Path) -> dict[str, Any]:
    per_run = [run_metrics(r) for r in runs]
    summary = {d: {m: {"mean": float(np.mean([p[d][m] for p in per_run])),
                       "sd": float(np.std([p[d][m] for p in per_run], ddof=1)) if len(per_run) > 1 else 0.0}
                   for m in METRICS} for d in DIRECTIONS}
    return {"label": label, "data": str(data_dir), "runs": [str(r) for r in runs], "per_run": per_run,
            "summary": summary, "oracle": per_run[0]["oracle"], "chance": per_run[0]["chance"],
            "names": name_agreement(data_dir, native_dir)}


def markdown(rows: list[dict[str, Any]]) -> str:
    header = ["data", "seeds", "i2r MedR", "i2r R@1", "i2r R@10", "r2i MedR", "r2i R@1", "r2i R@10",
              "oracle MedR / R@1", "chance MedR / R@1", "training names", "= native name", "purity"]
    cells = []
    for r in rows:
        stat = [f"{r['summary'][d][m]['mean']:.1f} ± {r['summary'][d][m]['sd']:.1f}" for d in DIRECTIONS for m in METRICS]
        n = r["names"]
        cells.append([r["label"], ",".join(str(p["seed"]) for p in r["per_run"]), *stat,
                      f"{r['oracle']['medr']:.1f} / {r['oracle']['r1']:.1f}",
                      f"{r['chance']['medr']:.1f} / {r['chance']['r1']:.1f}",
                      n["distinct_names"], f"{n['equal_native']:.1f}%", f"{n['purity']:.1f}%"])
    return md_table(header, cells)


@click.group()
def main() -> None:
    """Imported vs native layout."""


@main.command("export")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
def export_command(data_dir: Path, out: Path) -> None:
    """Write DATA_DIR's recipes as a JSONL export (no det_ingrs, no classes)."""
    click.echo(f"{export_jsonl(data_dir, out)} rows -> {out}")


@main.command("report")
@click.option("--native", "native_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="OUT.json and OUT.md are written.")
@click.option("--note", default="", help="How the runs were made (commands, threads, load, CPU flags), under the table.")
@click.argument("rows", nargs=-1, required=True)
def report_command(native_dir: Path, out: Path, note: str, rows: tuple[str, ...]) -> None:
    """ROWS: LABEL=DATA_DIR:RUN_DIR,RUN_DIR,... (each run evaluated with --bag-sizes 1000)."""
    table = []
    for spec in rows:
        label, _, rest = spec.partition("=")
        data, _, runs = rest.partition(":")
        if not (label and data and runs):
            raise click.BadParameter(f"{spec!r}: expected LABEL=DATA_DIR:RUN_DIR,RUN_DIR", param_hint="ROWS")
        table.append(row(label, Path(data), [Path(r) for r in runs.split(",")], native_dir))
    report = {"rows": table, "note": note, "machine": {"cpus": os.cpu_count(), "platform": platform.platform()}}
    write_json_and_markdown(out, report, markdown(table) + "\n" + (f"\n{note}\n" if note else ""))
    click.echo(markdown(table))


if __name__ == "__main__":
    main()
