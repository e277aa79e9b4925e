"""DistributedDataParallel helpers for `torchrun`: process-group setup and embedding gathering.

The triplet loss needs negatives from the whole global batch, so each process all-gathers the
embeddings; its own slice is the autograd-connected tensor (the others are constants there),
as open_clip's `gather_features` does. Every process then computes the same global loss.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: rank, world size, and whether a process group is active."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(backend: str | None = None) -> DistInfo:
    """Join the process group described by torchrun's environment (RANK, WORLD_SIZE, ...), if any.

    gloo on CPU, nccl when CUDA is available; a single process needs no group at all.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
        dist.init_process_group(backend=backend)
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank)


def current() -> DistInfo:
    """DistInfo of an already-initialised process group (or the single-process default)."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size(),
                        local_rank=int(os.environ.get("LOCAL_RANK", "0")))
    return DistInfo()


def gather_with_grad(x: Tensor, info: DistInfo) -> Tensor:
    """Concatenate `x` from all processes in rank order; gradients flow only into the local part."""
    if not info.enabled:
        return x
    parts = [torch.zeros_like(x) for _ in range(info.world_size)]
    dist.all_gather(parts, x.detach().contiguous())
    parts[info.rank] = x
    return torch.cat(parts, dim=0)


def local_slice(n: int, info: DistInfo) -> slice:
    """This process's contiguous share of a global batch of n items (n divisible by world size)."""
    if n % info.world_size:
        raise ValueError(f"global batch of {n} is not divisible by the world size {info.world_size}")
    per = n // info.world_size
    return slice(info.rank * per, (info.rank + 1) * per)


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes; the backward pass sums the gradients too (every process used the sum)."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        out = x.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class GlobalBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d whose training statistics cover the global batch of all processes.

    torch's SyncBatchNorm needs CUDA; this CPU-capable version all-reduces (sum, sum of squares,
    count) with an autograd-aware all_reduce, so gradients through the
    statistics reach every process, exactly as single-process BatchNorm over the global batch.
    """

    def forward(self, x: Tensor) -> Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        c = x.shape[1]
        count = torch.full((1,), float(x.shape[0]), dtype=x.dtype, device=x.device)
        stats = _AllReduceSum.apply(torch.cat([x.sum(0), (x * x).sum(0), count]))
        n = stats[-1]
        mean = stats[:c] / n
        var = (stats[c:2 * c] / n - mean * mean).clamp_min(0.0)
        if self.track_running_stats:
            with torch.no_grad():
                m = self.momentum if self.momentum is not None else 0.1
                self.running_mean.mul_(1 - m).add_(m * mean.detach())
                self.running_var.mul_(1 - m).add_(m * var.detach() * n / (n - 1))
                self.num_batches_tracked.add_(1)
        y = (x - mean) / torch.sqrt(var + self.eps)
        return y * self.weight + self.bias if self.affine else y


def sync_batchnorm(module: nn.Module) -> nn.Module:
    """Make BatchNorm statistics global: torch's SyncBatchNorm on GPU, GlobalBatchNorm1d on CPU (in place)."""
    if torch.cuda.is_available():
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm1d:
            new = GlobalBatchNorm1d(child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats)
            new.load_state_dict(child.state_dict())
            new.train(child.training)
            setattr(module, name, new)
        else:
            sync_batchnorm(child)
    return module


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def cleanup(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
