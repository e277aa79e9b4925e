"""Ablation of SEJE's components: one FEATURES_DIR, every row trained with several seeds, scored
on the same seeded test bags, beside chance and the category-only oracle.

    python -m benchmarks.ablation --data DATA --features FEATURES_DIR --work runs/ablation

writes benchmarks/results/ablation.{json,md}. Rows (each switches one component off the full
model): class negatives, category loss, adversarial loss, term feature, image category feature;
then the plain triplet baseline. Features (Phase 1) are built once and shared; the frozen
backbone's image features are cached once and copied into every run.
"""
from __future__ import annotations

import json
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import click
import numpy as np

from seje_sdk.errors import SejeError
from seje_sdk.io import atomic_file, write_json

DIRECTIONS = ("image_to_recipe", "recipe_to_image")
METRICS = ("medr", "r1", "r5", "r10")
RECALLS = (1, 5, 10)
# (row name, config overrides on top of the preset). "full SEJE" is the preset as it stands.
ROWS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("full SEJE", {}),
    ("without class negatives", {"double_negatives": False}),
    ("without category loss", {"category_loss": False}),
    ("without adversarial loss", {"discriminator_loss": False}),
    ("without term feature", {"use_term_feature": False}),
    ("without image category feature", {"use_category_feature": False}),
    ("plain triplet baseline", {"use_term_feature": False, "use_category_feature": False, "category_loss": False,
                                "discriminator_loss": False, "double_negatives": False}),
)
COMPONENTS = {  # row -> the component it removes, for the verdict sentences
    "without class negatives": "the class negatives (double negative sampling)",
    "without category loss": "the category loss",
    "without adversarial loss": "the adversarial (discriminator) loss",
    "without term feature": "the term feature",
    "without image category feature": "the image category feature",
}
ORACLE_DRAWS = 200


# ---- test embeddings and bags ----

def test_embeddings(run_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image, recipe) embeddings of the test split through the best checkpoint, and category labels."""
    from seje_sdk.image import ImageSpec
    from trainer.data.recipe1m import read_split
    from trainer.evaluate import embed_images_torch, embed_recipes_torch
    from trainer.features.store import FeatureStore
    from trainer.model import load_run

    model, config = load_run(run_dir, "best")
    store = FeatureStore.load(config["features_dir"])
    test = read_split(config["data_dir"], "test", require_images=True)
    spec = ImageSpec.for_size(int(config["resolved_image_size"]))
    img = embed_images_torch(model, [r.image_paths[0] for r in test], spec)
    rec = embed_recipes_torch(model, test, store, features_dir=config["features_dir"])
    labels = np.asarray([int(store.class_of.get(r.id, r.class_id or 0)) for r in test])
    return img, rec, labels


def test_bags(n: int, bag_size: int, n_bags: int, seed: int = 0) -> list[np.ndarray]:
    """Seeded bags of test pairs; the full set once when it is not larger than a bag."""
    if n <= bag_size:
        return [np.arange(n)]
    rng = np.random.default_rng(seed)
    return [rng.choice(n, size=bag_size, replace=False) for _ in range(n_bags)]


def _summary(ranks: np.ndarray) -> dict[str, float]:
    return {"medr": float(np.median(ranks)), **{f"r{k}": float(100.0 * np.mean(ranks <= k)) for k in RECALLS}}


def model_metrics(img: np.ndarray, rec: np.ndarray, bags: Sequence[np.ndarray]) -> dict[str, dict[str, float]]:
    """MedR and R@1/5/10 (percent) per direction, averaged over the bags."""
    from trainer.evaluate import rank_metrics

    runs = [rank_metrics(img[idx], rec[idx]) for idx in bags]
    return {d: {m: float(np.mean([r[d][m] for r in runs])) for m in METRICS} for d in DIRECTIONS}


def reference_metrics(labels: np.ndarray, bags: Sequence[np.ndarray], seed: int) -> dict[str, dict]:
    """Chance and the category-only oracle (knows each item's category, ranks inside it at random).

    The oracle's match rank is uniform on 1..m (m = items of its category in the bag), so its R@k
    is exact; its MedR is the mean over seeded draws. Both are the same in the two directions.
    """
    rng = np.random.default_rng([seed, 1])
    oracle, chance = [], []
    for idx in bags:
        _, inverse, counts = np.unique(labels[idx], return_inverse=True, return_counts=True)
        m = counts[inverse].astype(np.float64)
        medr = np.mean([np.median(np.floor(rng.random(len(m)) * m) + 1) for _ in range(ORACLE_DRAWS)])
        oracle.append({"medr": float(medr), **{f"r{k}": float(100 * np.mean(np.minimum(k, m) / m)) for k in RECALLS}})
        n = len(idx)
        chance.append({"medr": (n + 1) / 2, **{f"r{k}": 100.0 * min(k, n) / n for k in RECALLS}})
    rows = {}
    for name, runs in (("category-only oracle", oracle), ("chance", chance)):
        mean = {m: float(np.mean([r[m] for r in runs])) for m in METRICS}
        rows[name] = {d: dict(mean) for d in DIRECTIONS}
    return rows


# ---- training ----

def fit_row(data_dir: Path, features_dir: Path, run_dir: Path, preset: str, overrides: dict[str, Any],
            cache_from: Path | None) -> float:
    """Train one row's run (reusing a finished one); returns the fit's wall seconds (0 when reused)."""
    from trainer.train import run_fit

    if (run_dir / "checkpoints" / "best.pt").is_file() and (run_dir / "done").is_file():
        return 0.0
    if run_dir.exists():
        shutil.rmtree(run_dir)  # an unfinished run: start it again
    if cache_from is not None and (cache_from / "cache").is_dir():
        shutil.copytree(cache_from / "cache", run_dir / "cache")  # same frozen-backbone features
    start = time.time()
    run_fit(data_dir, features_dir, run_dir, preset=preset, overrides=overrides)
    seconds = time.time() - start
    (run_dir / "done").write_text(f"{seconds:.1f}\n")
    return seconds


def run_ablation(data_dir: str | Path, features_dir: str | Path, work_dir: str | Path,
                 out_dir: str | Path = Path("benchmarks") / "results", seeds: Sequence[int] = (0, 1, 2),
                 preset: str = "cpu", overrides: dict[str, Any] | None = None, bag_size: int = 1000,
                 n_bags: int = 10, rows: Sequence[str] | None = None, command: str = "") -> dict[str, Any]:
    """Train every ablation row with every seed on one FEATURES_DIR, score the test bags, write
    OUT/ablation.json and ablation.md; returns the report. Finished runs in WORK are reused."""
    from tqdm.auto import tqdm

    data_dir, features_dir, work_dir, out_dir = Path(data_dir), Path(features_dir), Path(work_dir), Path(out_dir)
    chosen = [(name, o) for name, o in ROWS if rows is None or name in rows]
    per_seed: dict[str, list[dict]] = {name: [] for name, _ in chosen}
    seconds: dict[str, list[float]] = {name: [] for name, _ in chosen}
    refs: list[dict] = []
    first: Path | None = None
    jobs = [(seed, name, o) for seed in seeds for name, o in chosen]
    for seed, name, row_overrides in tqdm(jobs, desc="ablation fits"):
        run_dir = work_dir / f"seed{seed}" / name.replace(" ", "_")
        cfg = {**(overrides or {}), **row_overrides, "seed": seed}
        seconds[name].append(fit_row(data_dir, features_dir, run_dir, preset, cfg, first))
        first = first or run_dir
        img, rec, labels = test_embeddings(run_dir)
        bags = test_bags(len(img), bag_size, n_bags)
        per_seed[name].append(model_metrics(img, rec, bags))
        if name == chosen[0][0]:
            refs.append(reference_metrics(labels, bags, seed))
        tqdm.write(f"seed {seed} {name}: " + _brief(per_seed[name][-1]))
    results = {name: _mean_sd(runs) for name, runs in per_seed.items()}
    for ref in refs[0]:
        results[ref] = _mean_sd([r[ref] for r in refs])
    report = {
        "command": command, "data_dir": str(data_dir), "features_dir": str(features_dir), "preset": preset,
        "overrides": overrides or {}, "seeds": list(seeds), "bag_size": int(len(bags[0])), "n_bags": len(bags),
        "n_test": int(len(img)), "rows": {name: o for name, o in chosen}, "results": results,
        "per_seed": per_seed, "fit_seconds": seconds, "verdicts": verdicts(results),
        "machine": {"python": platform.python_version(), "cpus": _cpus(), "load_after": _load()},
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "ablation.json", report)
    with atomic_file(out_dir / "ablation.md", "w") as f:
        f.write(format_markdown(report))
    return report


def _mean_sd(runs: Sequence[dict]) -> dict[str, dict[str, dict[str, float]]]:
    return {d: {m: {"mean": float(np.mean([r[d][m] for r in runs])), "sd": float(np.std([r[d][m] for r in runs]))}
                for m in METRICS} for d in DIRECTIONS}


def _brief(m: dict) -> str:
    return " | ".join(f"{d.split('_')[0]}2{d.split('_')[-1][0]} MedR {m[d]['medr']:.1f} R@1 {m[d]['r1']:.1f} "
                      f"R@10 {m[d]['r10']:.1f}" for d in DIRECTIONS)


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 0)


def _load() -> str:
    try:
        return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__()
    except OSError:
        return "unknown"


# ---- verdicts and tables ----

def _r1(result: dict) -> tuple[float, float]:
    """Mean R@1 over the two directions, and its sd (mean of the two sds)."""
    return (float(np.mean([result[d]["r1"]["mean"] for d in DIRECTIONS])),
            float(np.mean([result[d]["r1"]["sd"] for d in DIRECTIONS])))


def verdicts(results: dict) -> dict[str, str]:
    """One plain sentence per component: does removing it lower R@1 (both directions) beyond the seeds' spread?"""
    if "full SEJE" not in results:
        return {}
    full, full_sd = _r1(results["full SEJE"])
    out = {}
    for row, component in COMPONENTS.items():
        if row not in results:
            continue
        without, sd = _r1(results[row])
        gap, noise = full - without, max(full_sd, sd, 0.1)
        if gap > noise:
            out[row] = f"{component} helps: R@1 {full:.1f} with it, {without:.1f} without (mean of both directions)."
        elif gap < -noise:
            out[row] = (f"{component} hurts on this data: R@1 {without:.1f} without it, {full:.1f} with it "
                        "(mean of both directions).")
        else:
            out[row] = (f"{component} does not help on this data: R@1 {full:.1f} with it, {without:.1f} without "
                        f"(mean of both directions; within the seeds' spread of {noise:.1f}).")
    for name in ("category-only oracle", "plain triplet baseline"):
        if name in results:
            ref, _ = _r1(results[name])
            medr = {d: (results["full SEJE"][d]["medr"]["mean"], results[name][d]["medr"]["mean"]) for d in DIRECTIONS}
            beats = all(results["full SEJE"][d]["r1"]["mean"] > results[name][d]["r1"]["mean"] and medr[d][0] < medr[d][1]
                        for d in DIRECTIONS)
            out[f"vs {name}"] = (f"full SEJE {'beats' if beats else 'does NOT beat'} the {name} on R@1 and MedR in both "
                                 f"directions (R@1 {full:.1f} vs {ref:.1f}, mean of both directions).")
    return out


def format_markdown(report: dict) -> str:
    """The ablation table (mean ± sd over seeds) with its command, the verdicts and the load."""
    head = "| row | " + " | ".join(f"{a} {m}" for a in ("im2rec", "rec2im") for m in ("MedR", "R@1", "R@5", "R@10")) + " |"
    lines = [f"Ablation on {report['n_test']} test pairs ({report['n_bags']} bag(s) of {report['bag_size']}), "
             f"preset `{report['preset']}`" + (f" with {report['overrides']}" if report["overrides"] else "")
             + f", seeds {report['seeds']}: mean ± sd over seeds.", "", head, "|---" + "|---:" * 8 + "|"]
    for name, result in report["results"].items():
        cells = [f"{result[d][m]['mean']:.1f} ± {result[d][m]['sd']:.1f}" for d in DIRECTIONS for m in METRICS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", *[f"- {v}" for v in report["verdicts"].values()], "",
              f"Command: `{report['command']}`", "",
              f"Fit seconds per row (mean): " + ", ".join(f"{k} {np.mean(v):.0f}" for k, v in report["fit_seconds"].items())
              + f"; load average after: {report['machine']['load_after']} on a shared {report['machine']['cpus']}-core machine."]
    return "\n".join(lines) + "\n"


@click.command()
@click.option("--data", "data_dir", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--features", "features_dir", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--work", "work_dir", required=True, type=click.Path(file_okay=False), help="Folder for the runs.")
@click.option("--out", "out_dir", default=str(Path("benchmarks") / "results"), show_default=True)
@click.option("--seeds", default="0,1,2", show_default=True)
@click.option("--preset", type=click.Choice(["tiny", "cpu", "paper"]), default="cpu", show_default=True)
@click.option("--epochs", type=int, help="Fewer epochs than the preset (stated in the table).")
@click.option("--bag-size", default=1000, show_default=True)
@click.option("--bags", "n_bags", default=10, show_default=True)
def main(data_dir, features_dir, work_dir, out_dir, seeds, preset, epochs, bag_size, n_bags) -> None:
    """Train and score every ablation row; writes OUT/ablation.{json,md}."""
    try:
        seed_list = tuple(int(s) for s in seeds.split(",") if s.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {seeds!r}", param_hint="--seeds") from None
    overrides = {"epochs": epochs} if epochs else {}
    command = "python -m benchmarks.ablation " + " ".join(sys.argv[1:])
    try:
        report = run_ablation(data_dir, features_dir, work_dir, out_dir, seed_list, preset, overrides, bag_size,
                              n_bags, command=command)
    except SejeError as e:
        err = click.ClickException(str(e))
        err.exit_code = 2
        raise err from e
    click.echo(format_markdown(report))
    click.echo(json.dumps({"written": [str(Path(out_dir) / "ablation.json"), str(Path(out_dir) / "ablation.md")]}))


if __name__ == "__main__":
    main()
