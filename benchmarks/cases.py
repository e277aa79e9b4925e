"""Benchmark cases for every backend: PyTorch from RUN_DIR (the baseline), ONNX Runtime and TensorRT from BUNDLE_DIR.

Each builder returns BenchCase rows; what cannot run here (no GPU, no engine, a failed
torch.compile) becomes a row with the reason, so a report never silently lacks a backend.
"""
from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np

from benchmarks.environment import gpu_unavailable_reason
from benchmarks.harness import BenchCase
from benchmarks.inputs import RecipeBatch
from seje_sdk.backends.base import open_session, runtime_of
from seje_sdk.bundle import Bundle

GPU_BACKENDS = (("onnxruntime-cuda", "fp32"), ("onnxruntime-cuda", "fp16"), ("tensorrt", "fp32"), ("tensorrt", "fp16"))
CPU_PRECISIONS = ("fp32", "int8")  # fp16 variants target GPU runtimes: the CPU EP has no fast fp16 kernels
BUCKETS = 4


def bucketed(run_one: Callable[[RecipeBatch], Any], buckets: int = BUCKETS) -> Callable[[RecipeBatch], Any]:
    """Wrap a recipe runner with length bucketing: sort by sentence count, run each bucket cropped to its own padding.

    A padded LSTM runs every padded step; grouping similar lengths cuts the wasted steps at large batch.
    """
    def run(batch: RecipeBatch) -> Any:
        n = len(batch)
        if n < 2 * buckets:
            return run_one(batch)
        n_sent = (batch.sentence_lengths > 0).sum(1)
        order = np.argsort(n_sent, kind="stable")
        outs = []
        for part in np.array_split(order, buckets):
            outs.append(run_one(batch.subset(part)))
        out = np.concatenate([np.asarray(o) for o in outs])
        return out[np.argsort(order)]

    return run


# --- PyTorch (baseline at its best) -------------------------------------------------------------
def pytorch_cases(run_dir: str | os.PathLike, batches: dict[tuple[str, int], Any], compile_model: bool = True,
                  compile_skip_reason: str | None = None,
                  compile_batch_sizes: tuple[int, ...] | None = None) -> tuple[list[BenchCase], float | None]:
    """Eager (inference_mode, channels_last CNN) and torch.compile cases for every prepared batch (compiled
    ones only at `compile_batch_sizes`, default all), and the image encoder's GFLOP per image."""
    import torch

    from trainer.model import load_run

    model, _ = load_run(run_dir)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = model.to(device)
    image = model.image_encoder.to(memory_format=torch.channels_last)  # NHWC is faster for CNNs on CPU (oneDNN)
    recipe = model.recipe_encoder
    sync = torch.cuda.synchronize if device == "cuda" else None
    gpu_peak = (lambda: torch.cuda.max_memory_allocated() / 2**20) if device == "cuda" else None
    note = f"{device}, eager, inference_mode, channels_last CNN"
    compiled = {}
    reason = compile_skip_reason
    sizes = sorted({bs for _, bs in batches} if compile_batch_sizes is None else set(compile_batch_sizes))
    if compile_model and reason is None:
        # torch.compile is lazy: a model that cannot compile fails on its first (warm-up) call,
        # which the harness records as a "failed" row with the error; eager rows stay the baseline.
        # One batch size compiles once with static shapes; several need dynamic shapes (batch 1 still
        # gets its own specialisation), which is why a short run should compile at one size only.
        dynamic = len(sizes) > 1
        compiled = {"image": torch.compile(image, dynamic=dynamic), "recipe": torch.compile(recipe, dynamic=dynamic)}
    elif reason is None:
        reason = "torch.compile disabled (--no-compile)"

    def image_runner(m):
        def run(x):
            with torch.inference_mode():
                return m(x)[0]
        return run

    def recipe_runner(m):
        def run(b):
            with torch.inference_mode():
                return m(*b)
        return run

    gflop = image_gflop(image, next((b.shape[-1] for (e, _), b in batches.items() if e == "image"), None), device)
    cases = []
    for (encoder, bs), batch in batches.items():
        if encoder == "image":
            x = torch.from_numpy(batch).to(device).contiguous(memory_format=torch.channels_last)
            make = image_runner
        else:
            x = tuple(torch.from_numpy(a).to(device) for a in (batch.sentence_tokens, batch.sentence_lengths, batch.term_feature))
            make = recipe_runner
        cases.append(BenchCase("pytorch", "fp32", encoder, bs, make(image if encoder == "image" else recipe), x, sync, gpu_peak, note=note))
        if encoder in compiled and bs in sizes:
            cases.append(BenchCase("pytorch+compile", "fp32", encoder, bs, make(compiled[encoder]), x, sync, gpu_peak,
                                   note=f"{device}, torch.compile(dynamic={len(sizes) > 1}), inference_mode"))
        elif encoder in compiled:
            cases.append(BenchCase("pytorch+compile", "fp32", encoder, bs,
                                   skipped=f"compiled only at batch {', '.join(map(str, sizes))} (--compile-batch-sizes)"))
        else:
            cases.append(BenchCase("pytorch+compile", "fp32", encoder, bs, skipped=reason))
    return cases, gflop


def image_gflop(image_encoder: Any, size: int | None, device: str) -> float | None:
    """GFLOP (2 x multiply-adds) of one image through the image encoder, counted by torch's FlopCounterMode."""
    if size is None:
        return None
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        image_encoder(torch.zeros(1, 3, size, size, device=device))
    return counter.get_total_flops() / 1e9


# --- ONNX Runtime and TensorRT from the bundle --------------------------------------------------
def _feeds(encoder: str, batch: Any) -> dict[str, np.ndarray]:
    return {"pixels": batch} if encoder == "image" else batch.feeds()


def _session_runner(session: Any, encoder: str) -> Callable[[Any], Any]:
    def run(batch):
        return session.run(_feeds(encoder, batch))["embedding"]
    return run


class RawOrtSession:
    """A bare onnxruntime.InferenceSession (no seje wrapper): the reference the SDK's overhead is measured against."""

    def __init__(self, path: str | os.PathLike, threads: int = 0, spin: bool = True):
        import onnxruntime as ort

        from seje_sdk.backends.onnxruntime import SPIN_OPTION

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # same setting the SDK uses; 0 = all cores
        if not spin:  # threads block when idle, as the SDK's CPU sessions do (ORT's default: they spin-wait)
            options.add_session_config_entry(SPIN_OPTION, "0")
        self._session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        self._outputs = [o.name for o in self._session.get_outputs()]

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self._outputs, self._session.run(self._outputs, feeds)))


def onnxruntime_cpu_cases(bundle: Bundle, batches: dict[tuple[str, int], Any], threads: int = 0,
                          bucket_recipes: bool = True) -> list[BenchCase]:
    """Raw ONNX Runtime CPU sessions for fp32 and int8 (plus a length-bucketed recipe row)."""
    cases = []
    have = bundle.precisions("onnxruntime")
    for precision in CPU_PRECISIONS:
        if precision not in have:
            for encoder, bs in batches:
                cases.append(BenchCase("onnxruntime-cpu", precision, encoder, bs, skipped=bundle.lacks("onnxruntime", precision)))
            continue
        sessions = {e: RawOrtSession(bundle.model_path("onnxruntime", precision, e), threads) for e in {e for e, _ in batches}}
        for (encoder, bs), batch in batches.items():
            run = _session_runner(sessions[encoder], encoder)
            cases.append(BenchCase("onnxruntime-cpu", precision, encoder, bs, run, batch, note="bare InferenceSession"))
            if encoder == "recipe" and bucket_recipes and bs >= 2 * BUCKETS:  # smaller batches run unbucketed anyway
                cases.append(BenchCase("onnxruntime-cpu+bucket", precision, encoder, bs, bucketed(run), batch,
                                       note="sorted by length, 4 buckets each padded to its own maximum"))
    return cases


def openvino_cpu_cases(bundle: Bundle, batches: dict[tuple[str, int], Any], threads: int = 0) -> list[BenchCase]:
    """OpenVINO CPU sessions (the SDK's OvSession) on the bundle's fp32 / fp16 / int8 ONNX files, or skipped rows."""
    import importlib.util

    have = bundle.precisions("onnxruntime")
    missing = None if importlib.util.find_spec("openvino") else 'openvino is not installed (pip install "seje[openvino]")'
    cases = []
    for precision in ("fp32", "fp16", "int8"):
        reason = missing or (None if precision in have else f"bundle has no {precision} ONNX variant")
        if reason:
            cases += [BenchCase("openvino-cpu", precision, e, bs, skipped=reason) for e, bs in batches]
            continue
        from seje_sdk.backends.openvino import OvSession

        sessions = {e: OvSession(bundle.model_path("onnxruntime", precision, e), threads) for e in {e for e, _ in batches}}
        for (encoder, bs), batch in batches.items():
            cases.append(BenchCase("openvino-cpu", precision, encoder, bs, _session_runner(sessions[encoder], encoder),
                                   batch, note="OvSession, LATENCY hint, f32 inference precision"))
    return cases


def gpu_cases(bundle: Bundle, batches: dict[tuple[str, int], Any]) -> list[BenchCase]:
    """ORT CUDA and TensorRT cases, or one skipped row per (backend, precision, encoder, batch) with the reason."""
    no_gpu = gpu_unavailable_reason()
    cases = []
    for backend, precision in GPU_BACKENDS:
        reason = no_gpu or bundle.lacks(runtime_of(backend), precision)
        if reason is not None:
            cases += [BenchCase(backend, precision, e, bs, skipped=reason) for e, bs in batches]
            continue
        cases += _gpu_backend_cases(bundle, backend, precision, batches)
    return cases


def _gpu_backend_cases(bundle: Bundle, backend: str, precision: str, batches: dict[tuple[str, int], Any]) -> list[BenchCase]:
    cases = []
    for encoder in sorted({e for e, _ in batches}):
        try:
            session = open_session(bundle, backend, precision, encoder)
        except Exception as e:  # a GPU backend that does not load is reported, never silently dropped
            cases += [BenchCase(backend, precision, e2, bs, skipped=f"{type(e).__name__}: {e}") for e2, bs in batches if e2 == encoder]
            continue
        for (e2, bs), batch in batches.items():
            if e2 != encoder:
                continue
            if session.max_batch and bs > session.max_batch:
                cases.append(BenchCase(backend, precision, encoder, bs, skipped=f"batch {bs} > engine max batch {session.max_batch}"))
                continue
            # Session.run returns host arrays, so the copy back is the synchronisation point.
            cases.append(BenchCase(backend, precision, encoder, bs, _session_runner(session, encoder), batch,
                                   note=f"{session.device}, providers {session.providers}"))
    return cases
