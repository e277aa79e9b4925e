"""Cheap fine-tuning of the backbone's last stages: cache, once per photo, the activations at the
input of those stages, then train the stages, the conv head and the classifier head on the cache.

At 128 px EfficientNet-Lite0's last two stages run at 8x8 and 4x4, so an epoch over the cache costs
seconds where a whole-network pass costs minutes. Each photo is cached as itself and mirrored
(view 1), the same flip augmentation the whole-network fine-tune uses.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

from seje_sdk.progress import progress_bar


@torch.no_grad()
def cache_activations(trunk: nn.Module, pixels: Tensor, normalise: Callable[[Tensor], Tensor], batch: int,
                      views: int = 2, desc: str = "cache activations") -> Tensor:
    """(N, views, C, H, W) activations of the frozen trunk (eval mode): view 0 the photo, view 1 mirrored."""
    trunk.eval()
    out = []
    for start in progress_bar(range(0, len(pixels), batch), desc=desc, leave=False):
        x = normalise(pixels[start:start + batch].float())
        out.append(torch.stack([trunk(x if v == 0 else x.flip(3)) for v in range(views)], dim=1))
    return torch.cat(out) if out else torch.zeros(0)


def train_on_cache(top: nn.Module, head: nn.Module, acts: Tensor, labels: Tensor, epochs: int, lr: float,
                   head_lr: float, batch: int, gen: torch.Generator, desc: str = "fine-tune on cache") -> None:
    """Cross-entropy training of head(top(acts)) in place: Adam, cosine learning-rate decay, a random view per photo.

    BatchNorm layers of `top` run in training mode; both modules are left in eval mode.
    """
    groups = [{"params": list(head.parameters()), "lr": head_lr}]
    top_params = [p for p in top.parameters() if p.requires_grad]
    if top_params:
        groups.append({"params": top_params, "lr": lr})
    opt = torch.optim.Adam(groups)
    steps = max(1, epochs * -(-len(labels) // batch))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    top.train()
    head.train()
    for epoch in range(epochs):
        bar = progress_bar(torch.randperm(len(labels), generator=gen).split(batch), desc=f"{desc} {epoch + 1}/{epochs}",
                           leave=False)
        for b in bar:
            if len(b) < 2:  # BatchNorm needs two samples
                continue
            view = torch.randint(acts.shape[1], (len(b),), generator=gen)
            loss = nn.functional.cross_entropy(head(top(acts[b, view])), labels[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    top.eval()
    head.eval()


@torch.no_grad()
def predict_from_cache(top: nn.Module, head: nn.Module, acts: Tensor, batch: int = 256) -> Tensor:
    """Logits of view 0 (the photo as is), modules in eval mode."""
    top.eval()
    head.eval()
    outs = [head(top(acts[i:i + batch, 0])) for i in range(0, len(acts), batch)]
    return torch.cat(outs) if outs else torch.zeros(0)
