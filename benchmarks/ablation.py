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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import click
import numpy as np

from seje_sdk.errors import InputError, SejeError
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


# ---- test embeddings and bags ----

@dataclass
class SharedInputs:
    """The test split's inputs, computed once: frozen-backbone features of each recipe's first image
    (centre crop, exactly the eval transform), its category feature, recipe tensors and labels."""

    image_features: Any
    category_features: Any
    recipes: Any
    labels: np.ndarray


def load_test_inputs(run_dir: Path) -> SharedInputs:
    """Inputs shared by every run on one FEATURES_DIR (their frozen backbone is the Phase 1 classifier's)."""
    import torch

    from seje_sdk.image import ImageSpec
    from trainer.data.recipe1m import read_split
    from trainer.datasets import PairSplit, cache_backbone_features, category_features, recipe_tensors
    from trainer.features.store import FeatureStore
    from trainer.model import load_run

    model, config = load_run(run_dir, "best")
    if not (config["share_backbone"] and config["freeze_backbone"]):
        raise InputError("the ablation shares one frozen backbone between runs: use a preset with share_backbone")
    store = FeatureStore.load(config["features_dir"])
    test = read_split(config["data_dir"], "test", require_images=True)
    split = PairSplit("test", [r.id for r in test], np.asarray([store.index_of(r.id) for r in test]),
                      np.asarray([int(store.class_of.get(r.id, r.class_id or 0)) for r in test]),
                      [r.image_ids[:1] for r in test], [r.image_paths[:1] for r in test])
    spec = ImageSpec.for_size(int(config["resolved_image_size"]))
    with torch.no_grad():
        feats = cache_backbone_features(model.image_encoder, split, spec, 0, 0)[:, 0]
    cats, _ = category_features(store, split, config["category_feature"], config.get("category_temperature", 1.0))
    recipes = recipe_tensors(store, split.rows, int(store.config["max_sentences"]))
    return SharedInputs(feats, cats, recipes, split.labels)


def embed_test_split(run_dir: Path, inputs: SharedInputs) -> tuple[np.ndarray, np.ndarray]:
    """(image, recipe) test embeddings through the run's best checkpoint (the training fast paths,
    which tests/test_train.py checks equal the raw-input graphs)."""
    import torch

    from trainer.model import load_run

    model, _ = load_run(run_dir, "best")
    r = inputs.recipes
    with torch.no_grad():
        img = model.image_encoder.embed_features(inputs.image_features, inputs.category_features)
        rec = model.recipe_encoder.forward_from_vectors(r.vectors, r.counts, r.terms)
    return img.numpy(), rec.numpy()


def seeded_bags(n: int, bag_size: int, n_bags: int, seed: int = 0) -> list[np.ndarray]:
    """Seeded bags of test pairs; the full set once when it is not larger than a bag."""
    if n <= bag_size:
        return [np.arange(n)]
    from trainer.evaluate import draw_bags

    return draw_bags(n, bag_size, n_bags, np.random.default_rng(seed))


def _summary(ranks: np.ndarray) -> dict[str, float]:
    return {"medr": float(np.median(ranks)), **{f"r{k}": float(100.0 * np.mean(ranks <= k)) for k in RECALLS}}


def model_metrics(img: np.ndarray, rec: np.ndarray, bags: Sequence[np.ndarray]) -> dict[str, dict[str, float]]:
    """MedR and R@1/5/10 (percent) per direction, averaged over the bags."""
    from trainer.evaluate import rank_metrics

    runs = [rank_metrics(img[idx], rec[idx]) for idx in bags]
    return {d: {m: float(np.mean([r[d][m] for r in runs])) for m in METRICS} for d in DIRECTIONS}


def reference_metrics(labels: np.ndarray, bags: Sequence[np.ndarray], seed: int) -> dict[str, dict]:
    """Chance and the category-only oracle on the same bags, as `seje-train eval` computes them."""
    from trainer import references

    rows = references.reference_metrics([labels[idx] for idx in bags], seed)
    return {"category-only oracle": rows["category_oracle"], "chance": rows["chance"]}


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


_SHARED: dict[str, SharedInputs] = {}  # per worker process: test inputs of each FEATURES_DIR


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def ablation_job(data_dir: Path, features_dir: Path, run_dir: Path, preset: str, overrides: dict[str, Any],
                 cache_from: Path | None, bag_size: int, n_bags: int, shared_file: Path) -> dict[str, Any]:
    """Fit one (row, seed) run and score it on the seeded test bags; returns metrics and fit seconds.

    The test inputs are computed once (by the first job) and kept in `shared_file` for the others.
    """
    import torch

    from trainer.datasets import RecipeTensors

    seconds = fit_row(data_dir, features_dir, run_dir, preset, overrides, cache_from)
    key = str(features_dir)
    if key not in _SHARED:
        if shared_file.is_file():  # plain tensors only: read under torch's weights-only rule
            blob = torch.load(shared_file, weights_only=True)
            _SHARED[key] = SharedInputs(blob["image_features"], blob["category_features"],
                                        RecipeTensors(**blob["recipes"]), blob["labels"].numpy())
        else:
            _SHARED[key] = shared = load_test_inputs(run_dir)
            with atomic_file(shared_file) as f:
                torch.save({"image_features": shared.image_features, "category_features": shared.category_features,
                            "recipes": vars(shared.recipes), "labels": torch.from_numpy(shared.labels)}, f)
    shared = _SHARED[key]
    img, rec = embed_test_split(run_dir, shared)
    bags = seeded_bags(len(img), bag_size, n_bags)
    return {"metrics": model_metrics(img, rec, bags), "seconds": seconds, "n_test": len(img),
            "bag_size": int(len(bags[0])), "n_bags": len(bags),
            "references": reference_metrics(shared.labels, bags, int(overrides.get("seed", 0)))}


def run_ablation(data_dir: str | Path, features_dir: str | Path, work_dir: str | Path,
                 out_dir: str | Path = Path("benchmarks") / "results", seeds: Sequence[int] = (0, 1, 2),
                 preset: str = "cpu", overrides: dict[str, Any] | None = None, bag_size: int = 1000,
                 n_bags: int = 10, rows: Sequence[str] | None = None, command: str = "",
                 workers: int = 1, cache_from: str | Path | None = None) -> dict[str, Any]:
    """Train every ablation row with every seed on one FEATURES_DIR, score the test bags, write
    OUT/ablation.json and ablation.md; returns the report. Finished runs in WORK are reused.
    `cache_from`: a run folder whose frozen-backbone cache (same features, same images) the first
    fit starts from.

    With `workers` > 1 the fits run in that many processes of one torch thread each (small
    models: one thread per fit uses the cores better than two threads on one fit).
    """
    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing

    from tqdm import tqdm
    from seje_sdk.progress import progress_bar

    data_dir, features_dir, work_dir, out_dir = Path(data_dir), Path(features_dir), Path(work_dir), Path(out_dir)
    chosen = [(name, o) for name, o in ROWS if rows is None or name in rows]
    jobs = [(seed, name, {**(overrides or {}), **o, "seed": seed}) for seed in seeds for name, o in chosen]
    run_dir = lambda seed, name: work_dir / f"seed{seed}" / name.replace(" ", "_")  # noqa: E731
    done: dict[tuple[int, str], dict] = {}
    bar = progress_bar(total=len(jobs), desc="ablation fits")

    def record(seed: int, name: str, result: dict) -> None:
        done[(seed, name)] = result
        bar.update(1)
        tqdm.write(f"seed {seed} {name}: {_brief(result['metrics'])} ({result['seconds']:.0f} s)")

    # The first fit alone: it caches the frozen backbone's image features that all others copy.
    seed0, name0, cfg0 = jobs[0]
    first = run_dir(seed0, name0)
    shared_file = work_dir / "test_inputs.pt"
    record(seed0, name0, ablation_job(data_dir, features_dir, first, preset, cfg0,
                                      Path(cache_from) if cache_from else None, bag_size, n_bags, shared_file))
    rest = jobs[1:]
    if workers > 1:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_init_worker, initargs=(1,)) as pool:
            futures = {pool.submit(ablation_job, data_dir, features_dir, run_dir(seed, name), preset, cfg, first,
                                   bag_size, n_bags, shared_file): (seed, name) for seed, name, cfg in rest}
            for future in futures:
                record(*futures[future], future.result())
    else:
        for seed, name, cfg in rest:
            record(seed, name, ablation_job(data_dir, features_dir, run_dir(seed, name), preset, cfg, first,
                                            bag_size, n_bags, shared_file))
    bar.close()
    per_seed = {name: [done[(seed, name)]["metrics"] for seed in seeds] for name, _ in chosen}
    results = {name: _mean_sd(runs) for name, runs in per_seed.items()}
    refs = [done[(seed, chosen[0][0])]["references"] for seed in seeds]
    for ref in refs[0]:
        results[ref] = _mean_sd([r[ref] for r in refs])
    any_result = done[(seed0, name0)]
    report = {
        "command": command, "data_dir": str(data_dir), "features_dir": str(features_dir), "preset": preset,
        "overrides": overrides or {}, "seeds": list(seeds), "bag_size": any_result["bag_size"],
        "n_bags": any_result["n_bags"], "n_test": any_result["n_test"], "rows": {name: o for name, o in chosen},
        "results": results, "per_seed": per_seed,
        "fit_seconds": {name: [done[(seed, name)]["seconds"] for seed in seeds] for name, _ in chosen},
        "verdicts": verdicts(results), "workers": workers,
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
@click.option("--set", "sets", multiple=True, help="More config overrides KEY=VALUE (JSON value), stated in the table.")
@click.option("--rows", "row_names", help="Comma-separated subset of the rows (default: all).")
@click.option("--bag-size", default=1000, show_default=True)
@click.option("--bags", "n_bags", default=10, show_default=True)
@click.option("--workers", default=1, show_default=True, help="Fits in parallel (one torch thread each).")
@click.option("--cache-from", type=click.Path(exists=True, file_okay=False),
              help="A run folder on the same features whose backbone cache the first fit reuses.")
def main(data_dir, features_dir, work_dir, out_dir, seeds, preset, epochs, sets, row_names, bag_size, n_bags,
         workers, cache_from) -> None:
    """Train and score every ablation row; writes OUT/ablation.{json,md}."""
    try:
        seed_list = tuple(int(s) for s in seeds.split(",") if s.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {seeds!r}", param_hint="--seeds") from None
    overrides = {"epochs": epochs} if epochs else {}
    for item in sets:
        key, _, value = item.partition("=")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            raise click.BadParameter(f"expected KEY=JSON, got {item!r}", param_hint="--set") from None
    rows = [r.strip() for r in row_names.split(",")] if row_names else None
    unknown = sorted(set(rows or []) - {name for name, _ in ROWS})
    if unknown:
        raise click.BadParameter(f"unknown rows {unknown}; rows: {', '.join(n for n, _ in ROWS)}", param_hint="--rows")
    command = "python -m benchmarks.ablation " + " ".join(sys.argv[1:])
    try:
        report = run_ablation(data_dir, features_dir, work_dir, out_dir, seed_list, preset, overrides, bag_size,
                              n_bags, rows=rows, command=command, workers=workers, cache_from=cache_from)
    except SejeError as e:
        err = click.ClickException(str(e))
        err.exit_code = 2
        raise err from e
    click.echo(format_markdown(report))
    click.echo(json.dumps({"written": [str(Path(out_dir) / "ablation.json"), str(Path(out_dir) / "ablation.md")]}))


if __name__ == "__main__":
    main()
