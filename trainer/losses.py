"""SEJE's losses: batch-hard soft-margin triplet (instance + category negatives), category and
discriminator (WGAN-GP) alignment. Each is a plain function or a small module; the training loop
switches them on and off from the config.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def pairwise_distances(img: Tensor, rec: Tensor, eps: float = 1e-12) -> Tensor:
    """Euclidean distance matrix (B_img, B_rec) between L2-normalised embeddings: sqrt(2 - 2 cos)."""
    sq = (2.0 - 2.0 * img @ rec.t()).clamp_min(0.0)
    # eps inside the sqrt keeps the gradient finite for identical vectors (distance 0).
    return (sq + eps).sqrt()


def _hardest(dist: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Per row, the smallest distance among columns where mask is True, and whether any exists."""
    big = torch.finfo(dist.dtype).max
    masked = dist.masked_fill(~mask, big)
    return masked.min(dim=1).values, mask.any(dim=1)


def _soft_margin(pos: Tensor, neg: Tensor, valid: Tensor, gamma: float, margin: float) -> Tensor:
    """mean over valid anchors of log(1 + exp(gamma * (d(a,p) - d(a,n) + m)))."""
    if not bool(valid.any()):
        return pos.sum() * 0.0
    loss = F.softplus(gamma * (pos - neg + margin))
    return loss[valid].mean()


def triplet_loss(
    img: Tensor,
    rec: Tensor,
    labels: Tensor | None = None,
    gamma: float = 16.0,
    margin: float = 0.0,
    double_negatives: bool = True,
    class_weight: float = 1.0,
) -> dict[str, Tensor]:
    """Batch-hard soft-margin triplet loss, both directions, every image and every recipe an anchor.

    Row i of `img` and `rec` is a matching pair. The instance term uses each anchor's hardest
    negative of the other modality; with `double_negatives` (SEJE's instance-class strategy) a
    second term uses the hardest negative whose category differs from the anchor's. Background
    (class 0) carries no category information, so anchors of class 0 get no category term and
    items of class 0 are never category negatives. Gamma 16 and margin 0 as in SEJE's release.
    """
    n = img.shape[0]
    dist = pairwise_distances(img, rec)
    eye = torch.eye(n, dtype=torch.bool, device=img.device)
    pos = dist.diagonal()
    losses = {}
    inst = 0.0
    for name, d in (("i2r", dist), ("r2i", dist.t())):
        neg, valid = _hardest(d, ~eye)
        inst = inst + _soft_margin(pos, neg, valid, gamma, margin)
    losses["instance"] = inst / 2
    total = losses["instance"]
    if double_negatives and labels is not None:
        known = labels != 0
        different = (labels[:, None] != labels[None, :]) & known[:, None] & known[None, :]
        cls = 0.0
        for d in (dist, dist.t()):
            neg, valid = _hardest(d, different)
            cls = cls + _soft_margin(pos, neg, valid, gamma, margin)
        losses["class"] = cls / 2
        total = total + class_weight * losses["class"]
    losses["triplet"] = total
    return losses


def category_loss(head: nn.Module, img: Tensor, rec: Tensor, labels: Tensor) -> Tensor:
    """Cross-entropy of one classifier shared by both modalities, summed over the two modalities."""
    return F.cross_entropy(head(img), labels) + F.cross_entropy(head(rec), labels)


class Discriminator(nn.Module):
    """WGAN critic telling image from recipe embeddings: D -> 512 -> 256 -> 1, LeakyReLU(0.2)."""

    def __init__(self, dim: int, hidden: tuple[int, int] = (512, 256)) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, hidden[0]), nn.LeakyReLU(0.2),
            nn.Linear(hidden[0], hidden[1]), nn.LeakyReLU(0.2),
            nn.Linear(hidden[1], 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(-1)


def gradient_penalty(critic: nn.Module, img: Tensor, rec: Tensor) -> Tensor:
    """WGAN-GP: (||grad critic(x_hat)|| - 1)^2 on random interpolates of the two modalities."""
    alpha = torch.rand(img.shape[0], 1, device=img.device, dtype=img.dtype)
    x_hat = (alpha * img + (1 - alpha) * rec).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.norm(2, dim=1) - 1) ** 2).mean()


def critic_loss(critic: nn.Module, real: Tensor, fake: Tensor, gp_weight: float = 10.0) -> Tensor:
    """Loss that trains the critic on detached embeddings: score the real side (images, as in SEJE's
    release) high and the generated side (recipes) low, plus the gradient penalty."""
    real, fake = real.detach(), fake.detach()
    return critic(fake).mean() - critic(real).mean() + gp_weight * gradient_penalty(critic, real, fake)


def generator_loss(critic: nn.Module, fake: Tensor) -> Tensor:
    """The release's adversarial term for the encoders: only the generated side (recipes) is moved
    towards what the critic scores as real; the real side gets no gradient from it."""
    return -critic(fake).mean()


def alignment_loss(critic: nn.Module, real: Tensor, fake: Tensor, side: str = "recipe") -> Tensor:
    """Adversarial loss for the encoders. side="recipe": `generator_loss` (release); side="both":
    the negated Wasserstein estimate, so both distributions move towards each other."""
    if side == "recipe":
        return generator_loss(critic, fake)
    if side == "both":
        return critic(real).mean() - critic(fake).mean()
    raise ValueError(f"alignment side must be 'recipe' or 'both', got {side!r}")
