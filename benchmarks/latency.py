"""`seje-bench latency`: every backend x precision x encoder x batch size, interleaved, with PyTorch ratios.

Inputs: images are random pixels at the bundle's size (CNN cost is content-free); recipes are
real ones from the data folder (or synthetic ones from the vocabulary when there is none),
turned into encoder feeds by the SDK's own preprocessing, so their lengths are realistic.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.cases import gpu_cases, onnxruntime_cpu_cases, openvino_cpu_cases, pytorch_cases
from benchmarks.e2e import e2e_cases, e2e_summary
from benchmarks.environment import capture_environment, resolve_threads
from benchmarks.harness import BenchCase, TimingConfig, run_interleaved
from benchmarks.inputs import image_batch, read_recipes, sdk_recipe_batch, synthetic_recipes, vocab_tokens, write_jpegs
from benchmarks.torch_cuda import torch_cuda_cases
from seje_sdk.bundle import Bundle


@dataclass(frozen=True)
class LatencyConfig:
    """What `seje-bench latency` measures; defaults are the full CPU run, `quick()` the CI smoke."""

    batch_sizes: tuple[int, ...] = (1, 8, 32, 128)
    encoders: tuple[str, ...] = ("image", "recipe")
    warmup: int = 3
    iters: int = 20
    budget_s: float = 120.0  # per (encoder, batch) group; stops early once 3 rounds ran
    compile: bool = True  # try torch.compile for the PyTorch baseline (failures are recorded)
    compile_batch_sizes: tuple[int, ...] | None = None  # batch sizes with a torch.compile row (None: all)
    e2e: bool = True
    e2e_batch_size: int = 64
    e2e_batches_per_call: int = 4
    threads: int = 0  # 0 = all cores, for torch and ONNX Runtime alike
    bucket_recipes: bool = True
    n_recipes: int = 256

    @classmethod
    def quick(cls, **overrides: Any) -> "LatencyConfig":
        """A seconds-long smoke run for CI."""
        base = dict(batch_sizes=(1, 4), warmup=1, iters=3, budget_s=10.0, compile=False,
                    e2e_batch_size=4, e2e_batches_per_call=2, n_recipes=32)
        return cls(**{**base, **overrides})

    def timing(self) -> TimingConfig:
        return TimingConfig(warmup=self.warmup, iters=self.iters, min_iters=min(3, self.iters), budget_s=self.budget_s)


def data_dir_of(run_dir: str | os.PathLike | None, data_dir: str | os.PathLike | None) -> Path | None:
    """The data folder to draw real recipes/images from: given, else the run's config data_dir."""
    if data_dir:
        return Path(data_dir)
    if run_dir and (Path(run_dir) / "config.json").is_file():
        cfg = json.loads((Path(run_dir) / "config.json").read_text(encoding="utf-8"))
        if cfg.get("data_dir") and Path(cfg["data_dir"]).is_dir():
            return Path(cfg["data_dir"])
    return None


def load_sources(bundle: Bundle, data_dir: Path | None, n: int) -> tuple[list[dict], list[Path], str]:
    """Recipes and image files for the benchmark, and a sentence saying where they came from."""
    if data_dir is not None:
        recipes, images = read_recipes(data_dir, "test", limit=n)
        if recipes:
            return recipes, images, f"{len(recipes)} test recipes and images of {data_dir}"
    return synthetic_recipes(vocab_tokens(bundle), n), [], f"{n} synthetic recipes from the bundle vocabulary (no data folder)"


def set_threads(threads: int) -> int:
    """The one thread count every backend uses (0 = all CPUs this process may use), set in torch; returns it."""
    n = resolve_threads(threads)
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:
        pass
    return n


def run_latency(bundle_dir: str | os.PathLike, run_dir: str | os.PathLike | None = None, data_dir: str | os.PathLike | None = None,
                cfg: LatencyConfig = LatencyConfig(), progress: bool = True) -> dict[str, Any]:
    """Measure every backend; returns the JSON-ready report dict (environment, config, rows, e2e, inputs)."""
    from seje_sdk import Retriever

    bundle = Bundle.load(bundle_dir)  # first: a bad bundle fails before anything slow is imported
    threads = set_threads(cfg.threads)  # passed explicitly to ONNX Runtime too, never its own default
    retriever = Retriever.load(bundle, backend="onnxruntime", precision="fp32", threads=threads)
    data = data_dir_of(run_dir, data_dir)
    recipes, image_files, source = load_sources(bundle, data, cfg.n_recipes)
    all_recipes = sdk_recipe_batch(retriever, recipes)
    batches: dict[tuple[str, int], Any] = {}
    for encoder in cfg.encoders:
        for bs in cfg.batch_sizes:
            batches[(encoder, bs)] = image_batch(bundle.image_spec.size, bs) if encoder == "image" else all_recipes.tile(bs)

    cases: list[BenchCase] = []
    gflop = None
    no_torch = importlib.util.find_spec("torch") is None  # a plain seje[cpu] install: ONNX Runtime rows only
    if run_dir is not None and not no_torch:
        cases, gflop = pytorch_cases(run_dir, batches, compile_model=cfg.compile,
                                     compile_skip_reason=None if cfg.compile else "torch.compile disabled (--no-compile or --quick)",
                                     compile_batch_sizes=cfg.compile_batch_sizes)
        cases += torch_cuda_cases(run_dir, batches, compile_model=cfg.compile)  # fp16/bf16 on the GPU, or skipped rows
    else:
        why = ("no --run RUN_DIR given: no PyTorch baseline" if run_dir is None
               else "torch is not installed: pip install 'seje[train]' for the PyTorch baseline")
        cases += [BenchCase(b, "fp32", e, bs, skipped=why) for b in ("pytorch", "pytorch+compile") for e, bs in batches]
    cases += onnxruntime_cpu_cases(bundle, batches, threads, cfg.bucket_recipes)
    cases += openvino_cpu_cases(bundle, batches, threads)
    cases += gpu_cases(bundle, batches)
    rows = run_interleaved(cases, cfg.timing(), progress)
    for row in rows:  # achieved compute, to compare with the cores' (or GPU's) peak
        ok = gflop and row["encoder"] == "image" and row["status"] == "ok"
        row["gflop_per_s"] = round(row["throughput"] * gflop, 1) if ok else None

    e2e_rows, e2e_source = [], None
    if cfg.e2e:
        with tempfile.TemporaryDirectory(prefix="seje-bench-") as tmp:
            if image_files:
                e2e_source = f"{len(image_files)} image files of {data}"
            else:
                image_files = write_jpegs(tmp, 32)
                e2e_source = "32 generated 512x384 JPEG photos (quality 90)"
            e2e = []
            for precision in [p for p in ("fp32", "int8") if p in bundle.precisions("onnxruntime")]:
                e2e += e2e_cases(bundle, precision, image_files, recipes, cfg.e2e_batch_size, cfg.e2e_batches_per_call, threads)
            e2e_rows = run_interleaved(e2e, cfg.timing(), progress)
    return {
        "kind": "latency",
        "environment": capture_environment(),
        "config": {**dataclasses.asdict(cfg), "threads_used": threads},
        "bundle": {"path": str(bundle.path), "fingerprint": bundle.fingerprint, "embedding_dim": bundle.embedding_dim,
                   "image_size": bundle.image_spec.size, "variants": {k: bundle.precisions(k) for k in ("onnxruntime", "tensorrt")}},
        "run_dir": str(run_dir) if run_dir else None,
        "image_gflop": gflop,  # per image, counted by torch.utils.flop_counter on the PyTorch model
        "inputs": {"recipes": source, "e2e_images": e2e_source,
                   "recipe_padding": list(all_recipes.sentence_tokens.shape[1:]),
                   "recipe_mean_sentences": float((all_recipes.sentence_lengths > 0).sum(1).mean())},
        "rows": rows,
        "e2e_rows": e2e_rows,
        "e2e": e2e_summary(e2e_rows),
    }
