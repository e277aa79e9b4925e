"""Top-1 vs soft image category feature: retrieval quality and int8 damage per run, seeds side by side.

    python -m benchmarks.category_feature --out benchmarks/results/category_feature RUN:BUNDLE ...

Each RUN_DIR has been evaluated (`seje-train eval --run RUN --bag-sizes 1000`, eval.json) and
exported (`seje-export RUN --out BUNDLE --int8`, whose parity record holds the int8-vs-PyTorch
numbers on the whole test split). Writes OUT.json and OUT.md: one row per run, the mean and
standard deviation per mode, chance and the category-only oracle. Measures nothing itself.
"""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any, Sequence

import click
import numpy as np

from benchmarks.environment import CPU_FLAGS, cpu_flags
from seje_sdk.errors import InputError
from seje_sdk.io import atomic_file, write_json

DIRECTIONS = ("image_to_recipe", "recipe_to_image")
METRICS = ("medr", "r1", "r5", "r10")
DAMAGE = ("low_cos_share", "flip_rate", "cos_min", "cos_mean")


def run_row(run_dir: Path, bundle_dir: Path) -> dict[str, Any]:
    """Mode, seed, 1k-bag retrieval (eval.json) and int8 damage (the bundle's parity record) of one run."""
    for path in (run_dir / "config.json", run_dir / "eval.json", bundle_dir / "manifest.json"):
        if not path.is_file():
            raise InputError(f"{path} is missing: evaluate the run and export it with --int8 first")
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    bag = next(b for b in json.loads((run_dir / "eval.json").read_text(encoding="utf-8"))["bags"]
               if b["requested_bag_size"] == 1000)
    parity = json.loads((bundle_dir / "manifest.json").read_text(encoding="utf-8"))["parity"]
    int8 = parity["variants"].get("onnxruntime/int8") or parity.get("refused", {}).get("onnxruntime/int8")
    if int8 is None:
        raise InputError(f"{bundle_dir}: no int8 parity record; export with --int8")
    image = int8["image"]
    return {
        "run": run_dir.name, "mode": config.get("category_feature", "top1"), "seed": config["seed"],
        "retrieval": {d: {m: bag[d][m]["mean"] for m in METRICS} for d in DIRECTIONS},
        "references": bag["references"],
        "int8": {"low_cos_share": image.get("low_cos_share"), "flip_rate": int8.get("category_flip_rate"),
                 "cos_min": image["cos_min"], "cos_mean": image["cos_mean"], "r1_interval": int8["r1_interval"],
                 "passed": "onnxruntime/int8" in parity["variants"]},
    }


def summary(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, list[float]]]:
    """Per mode: [mean, sd] of every retrieval metric and damage number over its seeds."""
    out: dict[str, dict[str, list[float]]] = {}
    for mode in dict.fromkeys(r["mode"] for r in rows):
        mine = [r for r in rows if r["mode"] == mode]
        values = {f"{d}.{m}": [r["retrieval"][d][m] for r in mine] for d in DIRECTIONS for m in METRICS}
        values.update({k: [r["int8"][k] for r in mine] for k in DAMAGE})
        out[mode] = {k: [float(np.mean(v)), float(np.std(v))] for k, v in values.items()}
    return out


def _interval(i: dict[str, float]) -> str:
    return f"{i['diff']:+.1f} [{i['low']:+.1f}, {i['high']:+.1f}]"


def markdown(rows: Sequence[dict[str, Any]], means: dict[str, Any], env: dict[str, Any]) -> str:
    head = ("| run | mode | seed | i2r MedR | i2r R@1 / R@5 / R@10 | r2i MedR | r2i R@1 / R@5 / R@10 | "
            "int8 images cos < 0.95 | int8 top-1 flips | int8 image cos min / mean | int8 R@1 diff [95% CI] i2r | r2i | int8 kept |")
    lines = [head, "| " + " | ".join(["---"] * 3 + ["---:"] * 9 + ["---"]) + " |"]
    for r in rows:
        ret, d = r["retrieval"], r["int8"]
        lines.append(
            f"| {r['run']} | {r['mode']} | {r['seed']} | {ret['image_to_recipe']['medr']:.1f} | "
            + " / ".join(f"{ret['image_to_recipe'][m]:.1f}" for m in ("r1", "r5", "r10"))
            + f" | {ret['recipe_to_image']['medr']:.1f} | "
            + " / ".join(f"{ret['recipe_to_image'][m]:.1f}" for m in ("r1", "r5", "r10"))
            + f" | {100 * d['low_cos_share']:.1f}% | {100 * d['flip_rate']:.1f}% | {d['cos_min']:.3f} / {d['cos_mean']:.4f} | "
            f"{_interval(d['r1_interval']['image_to_recipe'])} | {_interval(d['r1_interval']['recipe_to_image'])} | "
            f"{'yes' if d['passed'] else 'refused'} |")
    for mode, m in means.items():
        def ms(key: str, scale: float = 1.0, fmt: str = ".1f") -> str:
            return f"{scale * m[key][0]:{fmt}} ± {scale * m[key][1]:{fmt}}"
        lines.append(
            f"| **mean ± sd** | {mode} | | {ms('image_to_recipe.medr')} | "
            + " / ".join(ms(f"image_to_recipe.{k}") for k in ("r1", "r5", "r10"))
            + f" | {ms('recipe_to_image.medr')} | " + " / ".join(ms(f"recipe_to_image.{k}") for k in ("r1", "r5", "r10"))
            + f" | {ms('low_cos_share', 100)}% | {ms('flip_rate', 100)}% | {ms('cos_min', fmt='.3f')} / "
            f"{ms('cos_mean', fmt='.4f')} | | | |")
    refs = rows[0]["references"]
    for name, key in (("category-only oracle", "category_oracle"), ("chance", "chance")):
        ref = refs[key]
        lines.append(f"| {name} | | | {ref['image_to_recipe']['medr']:.1f} | "
                     + " / ".join(f"{ref['image_to_recipe'][m]:.1f}" for m in ("r1", "r5", "r10"))
                     + f" | {ref['recipe_to_image']['medr']:.1f} | "
                     + " / ".join(f"{ref['recipe_to_image'][m]:.1f}" for m in ("r1", "r5", "r10")) + " | | | | | | |")
    notes = (f"\nRetrieval: `seje-train eval --run RUN --bag-sizes 1000` (10 bags of 1,000 test pairs). int8 columns: "
             f"`seje-export RUN --out BUNDLE --int8`, the parity record on the whole test split (int8 vs PyTorch). "
             f"CPU flags: {env['cpu_flags']}; {env['machine']}.\n")
    return "\n".join(lines) + "\n" + notes


@click.command()
@click.argument("pairs", nargs=-1, required=True)
@click.option("--out", required=True, help="Output path without extension (.json and .md are written).")
@click.option("--note", default="", help="A sentence on how the runs were made (threads, load), kept in both files.")
def main(pairs: tuple[str, ...], out: str, note: str) -> None:
    """Collect RUN:BUNDLE pairs into the top-1 vs soft category-feature table."""
    parsed = []
    for pair in pairs:
        run, sep, bundle = pair.partition(":")
        if not sep:
            raise click.BadParameter(f"{pair!r}: expected RUN_DIR:BUNDLE_DIR", param_hint="PAIRS")
        parsed.append((Path(run), Path(bundle)))
    rows = [run_row(run, bundle) for run, bundle in parsed]
    means = summary(rows)
    env = {"cpu_flags": " ".join(cpu_flags()) or "none of " + ", ".join(CPU_FLAGS), "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
           "load_at_collection": [round(x, 2) for x in os.getloadavg()], "note": note}
    write_json(f"{out}.json", {"rows": rows, "summary": means, "environment": env})
    with atomic_file(f"{out}.md", "w") as f:
        f.write(markdown(rows, means, env) + (f"\n{note}\n" if note else ""))
    click.echo(f"wrote {out}.json and {out}.md")


if __name__ == "__main__":
    main()
