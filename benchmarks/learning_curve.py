"""Learning curves: retrieval quality against collection size, per training option and seed.

    seje-bench learning-curve --sizes 300,1000,3500 --options seje,fasttext --seeds 0,1,2 --work runs/curves

For each size N the embedded data is synthesised (`seje-train synth --recipes N --seed 0`); for
each option the features are built once (`seje-train features`, seeded and deterministic, so one
run per (N, option) serves every fit seed; options with the same feature settings share it);
then per seed `seje-train fit --seed S` and `seje-train eval` on bags of min(1000, test pairs).
Every stage runs as the console command a user would type, in a subprocess, and a stage whose
output already exists is reused, so an interrupted curve resumes. The report (JSON + Markdown)
is rewritten after every run: MedR, R@1, R@10 both ways, mean ± sd over seeds, with chance and
the category-only oracle per N.

Options are named rows of OPTIONS; another option is one `register_option(Option(...))` call.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from benchmarks.environment import cpu_flags
from seje_sdk.errors import InputError
from seje_sdk.io import atomic_file, write_json

DIRECTIONS = ("image_to_recipe", "recipe_to_image")
METRICS = ("medr", "r1", "r10")
BAG_SIZE = 1000  # capped at the test split: eval uses the whole split when it is smaller


@dataclass(frozen=True)
class Option:
    """One row of the curve: a features preset + overrides and a fit preset + overrides."""

    name: str
    description: str
    features_preset: str = "cpu"
    features: dict[str, Any] = field(default_factory=dict)  # FeatureConfig overrides
    fit_preset: str = "cpu"
    fit: dict[str, Any] = field(default_factory=dict)  # TrainConfig overrides

    def features_key(self) -> str:
        """Options whose feature settings resolve to the same config share one FEATURES_DIR.

        The key hashes only the settings that differ from FeatureConfig's defaults, so a new config
        field (with its default) does not rename every existing FEATURES_DIR.
        """
        from trainer.features.config import FeatureConfig, resolve_config

        defaults = FeatureConfig().to_dict()
        changed = {k: v for k, v in resolve_config(self.features_preset, self.features).to_dict().items() if v != defaults[k]}
        text = json.dumps(changed, sort_keys=True)
        return f"features-{hashlib.sha256(text.encode()).hexdigest()[:10]}"


OPTIONS: dict[str, Option] = {}


def register_option(option: Option) -> Option:
    """Add a named option (a later registration of the same name replaces it)."""
    OPTIONS[option.name] = option
    return option


register_option(Option("seje", "SEJE as published: the cpu preset (Word2vec + skip-instructions)"))
register_option(Option("small", "the small preset: 224-px photos, MiniLM vectors of sentences, title and ingredients; "
                       "fit in batches of 32, up to 60 epochs", features_preset="small", fit_preset="small"))
register_option(Option("small-photos", "cpu features on 224-px photos (skip-instructions kept), the small fit preset",
                       features={"image_size": 224}, fit_preset="small"))
register_option(Option("fasttext", "cpu preset with FastText subword word vectors (unseen words get a vector)",
                       features={"word_vectors": "fasttext"}))
register_option(Option("minilm", "cpu preset with pretrained MiniLM instruction-sentence vectors instead of skip-instructions",
                       features={"sentence_encoder": "minilm"}))
register_option(Option("minilm-fields", "minilm plus MiniLM vectors of the title and of the joined ingredient lines",
                       features={"sentence_encoder": "minilm", "minilm_fields": True}))


@dataclass(frozen=True)
class CurveConfig:
    """What to run: sizes, option names, fit seeds, where runs live and where the report goes."""

    sizes: Sequence[int] = (300, 1000, 3500)
    options: Sequence[str] = ("seje", "fasttext")
    seeds: Sequence[int] = (0, 1, 2)
    work: Path = Path("runs/curves")
    out: Path = Path("benchmarks/results")
    stem: str = "learning_curve"
    data_seed: int = 0
    report_only: bool = False  # tabulate the runs already finished under `work`; train nothing

    def __post_init__(self) -> None:
        unknown = [o for o in self.options if o not in OPTIONS]
        if unknown:
            raise InputError(f"learning curve: unknown options {unknown}; registered: {', '.join(OPTIONS)}")
        if not self.sizes or min(self.sizes) < 50:
            raise InputError(f"learning curve: sizes must be at least 50 recipes, got {list(self.sizes)}")
        if not self.seeds:
            raise InputError("learning curve: give at least one seed")


def _run(args: list[str], log: Path) -> float:
    """Run one `python -m <cli> ...` stage, output into log; seconds taken. A failure names the log."""
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.time()
    with open(log, "w", encoding="utf-8") as f:
        f.write("$ " + " ".join(args) + "\n")
        f.flush()
        done = subprocess.run([sys.executable, "-m", *args], stdout=f, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise RuntimeError(f"learning curve: `{' '.join(args)}` failed (exit {done.returncode}); see {log}")
    return round(time.time() - start, 1)


def _config_file(path: Path, overrides: dict[str, Any]) -> list[str]:
    if not overrides:
        return []
    write_json(path, overrides)
    return ["--config", str(path)]


def ensure_data(cfg: CurveConfig, n: int) -> Path:
    data = cfg.work / f"data-{n}"
    if not (data / "layer1.json").is_file():
        _run(["trainer.cli", "synth", str(data), "--recipes", str(n), "--seed", str(cfg.data_seed)], cfg.work / "logs" / f"synth-{n}.log")
    return data


def ensure_features(cfg: CurveConfig, n: int, data: Path, option: Option) -> tuple[Path, float | None]:
    feats = cfg.work / f"n{n}" / f"{option.features_key()}"
    if (feats / "manifest.json").is_file():
        return feats, None
    extra = _config_file(cfg.work / f"n{n}" / f"{option.features_key()}.json", option.features)
    secs = _run(["trainer.cli", "features", "--data", str(data), "--out", str(feats), "--preset", option.features_preset, *extra],
                cfg.work / "logs" / f"features-{n}-{option.features_key()}.log")
    return feats, secs


def fit_and_eval(cfg: CurveConfig, n: int, data: Path, feats: Path, option: Option, seed: int) -> dict[str, Any]:
    """One fit + eval (reused when its eval.json exists); the bag at BAG_SIZE or the whole test split."""
    run = cfg.work / f"n{n}" / option.name / f"seed{seed}"
    logs = cfg.work / "logs"
    times: dict[str, float] = {}
    if not (run / "eval.json").is_file():
        share_cache(cfg.work / f"n{n}", feats, run)
        extra = _config_file(cfg.work / f"n{n}" / option.name / "fit.json", option.fit)
        times["fit_s"] = _run(["trainer.cli", "fit", "--data", str(data), "--features", str(feats), "--out", str(run),
                               "--preset", option.fit_preset, "--seed", str(seed), *extra], logs / f"fit-{n}-{option.name}-{seed}.log")
        times["eval_s"] = _run(["trainer.cli", "eval", "--run", str(run), "--bag-sizes", str(BAG_SIZE)],
                               logs / f"eval-{n}-{option.name}-{seed}.log")
    ev = json.loads((run / "eval.json").read_text(encoding="utf-8"))
    bags = ev["bags"][0]
    return {"n": n, "option": option.name, "seed": seed, "run": str(run), **times,
            "bag_size": bags["bag_size"], "n_bags": bags["n_bags"],
            "metrics": {d: {m: bags[d][m]["mean"] for m in METRICS} for d in DIRECTIONS},
            "references": {ref: {d: {m: bags["references"][ref][d][m] for m in METRICS} for d in DIRECTIONS}
                           for ref in ("chance", "category_oracle")}}


def share_cache(size_dir: Path, feats: Path, run: Path) -> None:
    """Copy the frozen-backbone image cache of a finished run on the same FEATURES_DIR into `run`.

    The trainer reuses a cache only when its key (split, images, image size, backbone, views)
    matches and recomputes it otherwise, so a copy is never wrong, only sometimes unused.
    """
    if (run / "cache").exists():
        return
    for config in sorted(size_dir.glob("*/seed*/config.json")):
        donor = json.loads(config.read_text(encoding="utf-8"))
        if Path(donor.get("features_dir", "")).resolve() == feats.resolve() and (config.parent / "cache").is_dir():
            shutil.copytree(config.parent / "cache", run / "cache")
            return


def environment() -> dict[str, Any]:
    """CPU flags, load and thread count: the numbers are quoted with these."""
    return {"cpu_flags": cpu_flags(), "cpus": os.cpu_count(), "load": [round(x, 1) for x in os.getloadavg()],
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "unset"), "python": platform.python_version(),
            "time_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows per (N, option): mean and sd over seeds; then chance and oracle rows per N."""
    rows = []
    for n in dict.fromkeys(r["n"] for r in runs):
        at_n = [r for r in runs if r["n"] == n]
        for name in dict.fromkeys(r["option"] for r in at_n):
            group = [r for r in at_n if r["option"] == name]
            rows.append({"n": n, "row": name, "seeds": [r["seed"] for r in group], "bag_size": group[0]["bag_size"],
                         **{f"{d}.{m}": _mean_sd([r["metrics"][d][m] for r in group]) for d in DIRECTIONS for m in METRICS}})
        for ref, label in (("category_oracle", "category-only oracle"), ("chance", "chance")):
            rows.append({"n": n, "row": label, "seeds": [], "bag_size": at_n[0]["bag_size"],
                         **{f"{d}.{m}": {"mean": at_n[0]["references"][ref][d][m], "sd": None} for d in DIRECTIONS for m in METRICS}})
    return rows


def _mean_sd(values: list[float]) -> dict[str, float | None]:
    return {"mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1 else None}


def markdown(report: dict[str, Any]) -> str:
    env = report["environment"]
    lines = [f"# Learning curves ({report['status']})", "",
             f"Command: `{report['command']}`", "",
             f"Machine: {env['cpus']} CPUs ({' '.join(env['cpu_flags'])}), OMP_NUM_THREADS={env['omp_num_threads']}, "
             f"load {env['load']} at the end (started at {report['load_at_start']}).", "",
             "Embedded data from `seje-train synth DATA_DIR --recipes N --seed 0`; features once per (N, option); "
             "per fit seed: `seje-train fit --data DATA_DIR --features FEATURES_DIR --out RUN_DIR --seed S`, `seje-train eval --run RUN_DIR --bag-sizes 1000` (the bag is the whole "
             "test split when it is smaller: column `bag`). MedR lower is better, R@K in %; mean ± sd over the seeds.", "",
             "| N | row | seeds | bag | i2r MedR | i2r R@1 | i2r R@10 | r2i MedR | r2i R@1 | r2i R@10 |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["rows"]:
        cells = [_cell(r[f"{d}.{m}"]) for d in DIRECTIONS for m in METRICS]
        lines.append(f"| {r['n']} | {r['row']} | {len(r['seeds']) or '-'} | {r['bag_size']} | " + " | ".join(cells) + " |")
    lines += ["", "Options:"] + [f"- `{o}`: {OPTIONS[o].description}" for o in report["options"] if o in OPTIONS]
    return "\n".join(lines) + "\n"


def _cell(v: dict[str, float | None]) -> str:
    return f"{v['mean']:.1f}" + (f" ± {v['sd']:.1f}" if v["sd"] is not None else "")


def write(report: dict[str, Any], cfg: CurveConfig) -> None:
    cfg.out.mkdir(parents=True, exist_ok=True)
    write_json(cfg.out / f"{cfg.stem}.json", report)
    with atomic_file(cfg.out / f"{cfg.stem}.md", "w") as f:
        f.write(markdown(report))


def run_curve(cfg: CurveConfig, command: str) -> dict[str, Any]:
    """Every (N, option, seed), smallest N first; the report is rewritten after each run."""
    report: dict[str, Any] = {"kind": "learning_curve", "command": command, "status": "running", "options": list(cfg.options),
                              "sizes": list(cfg.sizes), "seeds": list(cfg.seeds), "load_at_start": environment()["load"],
                              "features_s": {}, "runs": [], "rows": [], "environment": environment()}
    missing = []
    for n in sorted(cfg.sizes):
        data = cfg.work / f"data-{n}" if cfg.report_only else ensure_data(cfg, n)
        for name in cfg.options:
            option = OPTIONS[name]
            finished = all((cfg.work / f"n{n}" / name / f"seed{seed}" / "eval.json").is_file() for seed in cfg.seeds)
            feats, secs = (None, None) if cfg.report_only or finished else ensure_features(cfg, n, data, option)
            if secs is not None:
                report["features_s"][f"{n}/{option.features_key()}"] = secs
            for seed in cfg.seeds:
                if cfg.report_only and not (cfg.work / f"n{n}" / name / f"seed{seed}" / "eval.json").is_file():
                    missing.append(f"N={n} {name} seed {seed}")
                    continue
                report["runs"].append(fit_and_eval(cfg, n, data, feats, option, seed))
                report.update(rows=summarise(report["runs"]), environment=environment())
                write(report, cfg)
                print(f"learning curve: N={n} {name} seed {seed} done", flush=True)
    report["status"] = "complete" if not missing else f"not run: {', '.join(missing)}"
    report.update(rows=summarise(report["runs"]), environment=environment())
    write(report, cfg)
    return report
