"""PyTorch on CUDA in fp16 and bf16 (autocast), eager and torch.compile: the GPU rows beside pytorch/fp32.

benchmarks.cases.pytorch_cases already times fp32 eager and compiled on the GPU when one
exists; these rows add the reduced precisions a PyTorch user would reach for, so ONNX Runtime
CUDA and TensorRT fp16 are compared with PyTorch at its best. Without a CUDA device every row
is listed as skipped with the reason.
"""
from __future__ import annotations

import os
from typing import Any, Callable

from benchmarks.harness import BenchCase

PRECISIONS = {"fp16": "float16", "bf16": "bfloat16"}
BACKENDS = ("pytorch", "pytorch+compile")


def _skipped(batches: dict[tuple[str, int], Any], reason: str, precisions=tuple(PRECISIONS), backends=BACKENDS) -> list[BenchCase]:
    return [BenchCase(b, p, e, bs, skipped=reason) for b in backends for p in precisions for e, bs in batches]


def _runner(module: Any, encoder: str, dtype: Any) -> Callable[[Any], Any]:
    import torch

    def run(x):
        with torch.inference_mode(), torch.autocast("cuda", dtype=dtype):
            return module(x)[0] if encoder == "image" else module(*x)
    return run


def torch_cuda_cases(run_dir: str | os.PathLike, batches: dict[tuple[str, int], Any], compile_model: bool = True
                     ) -> list[BenchCase]:
    """fp16/bf16 autocast cases on GPU 0 for every prepared batch (eager, and compiled unless disabled)."""
    import torch

    if not torch.cuda.is_available():
        return _skipped(batches, f"PyTorch CUDA unusable: torch {torch.__version__} (CUDA build {torch.version.cuda}) sees no CUDA device")
    from trainer.model import load_run

    model, _ = load_run(run_dir)
    model = model.to("cuda").eval()
    modules = {"image": model.image_encoder.to(memory_format=torch.channels_last), "recipe": model.recipe_encoder}
    compiled = {e: torch.compile(m, dynamic=True) for e, m in modules.items()} if compile_model else {}
    gpu_peak = lambda: torch.cuda.max_memory_allocated() / 2**20  # noqa: E731
    cases: list[BenchCase] = []
    for precision, dtype_name in PRECISIONS.items():
        dtype = getattr(torch, dtype_name)
        if precision == "bf16" and not torch.cuda.is_bf16_supported():
            cases += _skipped(batches, f"this GPU ({torch.cuda.get_device_name(0)}) has no bf16 support", (precision,))
            continue
        for (encoder, bs), batch in batches.items():
            if encoder == "image":
                x = torch.from_numpy(batch).to("cuda").contiguous(memory_format=torch.channels_last)
            else:
                x = tuple(torch.from_numpy(a).to("cuda") for a in (batch.sentence_tokens, batch.sentence_lengths, batch.term_feature))
            note = f"cuda, autocast {dtype_name}, inference_mode"
            cases.append(BenchCase("pytorch", precision, encoder, bs, _runner(modules[encoder], encoder, dtype), x,
                                   torch.cuda.synchronize, gpu_peak, note=f"{note}, eager"))
            if encoder in compiled:
                cases.append(BenchCase("pytorch+compile", precision, encoder, bs, _runner(compiled[encoder], encoder, dtype), x,
                                       torch.cuda.synchronize, gpu_peak, note=f"{note}, torch.compile(dynamic=True)"))
            else:
                cases.append(BenchCase("pytorch+compile", precision, encoder, bs,
                                       skipped="torch.compile disabled (--no-compile or --quick)"))
    return cases
