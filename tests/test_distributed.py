"""DDP on CPU: 2 gloo processes give the same loss and update as 1 process on the global batch."""
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from trainer.config import resolve_config
from trainer.distributed import DistInfo, gather_with_grad, local_slice, sync_batchnorm
from trainer.losses import Discriminator
from trainer.model import ImageEncoder, RecipeEncoder, SejeModel
from trainer.train import PairForward, optimisation_step

GLOBAL_BATCH = 8


class _Sentence(nn.Module):  # stands in for the frozen skip-instruction encoder (unused on the fast path)
    def forward(self, tokens, lengths):
        return torch.zeros(tokens.shape[0], 12)


def _setup():
    torch.manual_seed(0)
    image = ImageEncoder(nn.Identity(), 10, nn.Identity(), torch.randn(5, 8), embed_dim=16, freeze_backbone=True)
    recipe = RecipeEncoder(_Sentence(), sentence_dim=12, word_dim=8, instruction_dim=10, term_dim=6, embed_dim=16)
    model = SejeModel(image, recipe, num_classes=5, embed_dim=16)
    critic = Discriminator(16)
    g = torch.Generator().manual_seed(1)
    batch = [torch.randn(GLOBAL_BATCH, 10, generator=g), torch.randn(GLOBAL_BATCH, 8, generator=g),
             torch.randn(GLOBAL_BATCH, 3, 12, generator=g), torch.tensor([3, 1, 2, 3, 1, 2, 3, 2]),
             torch.randn(GLOBAL_BATCH, 8, generator=g), torch.tensor([1, 2, 1, 3, 0, 4, 2, 1])]
    cfg = resolve_config("tiny", overrides={"embed_dim": 16})
    return model, critic, batch, cfg


def _step(model, critic, forward, batch, cfg, info):
    # SGD, not Adam: Adam turns the ~1e-9 numerical noise on a pre-BatchNorm bias (true gradient 0)
    # into full-size steps, which would compare noise rather than the DDP maths.
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    copt = torch.optim.Adam(critic.parameters(), lr=1e-4, betas=(0.5, 0.999))
    model.train()
    torch.manual_seed(123)  # the per-step seed the trainer sets (same on every process)
    logged = optimisation_step(forward, model, critic, opt, copt, batch, cfg, info)
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return logged, {k: v.detach().clone() for k, v in model.state_dict().items()}, grads


def _worker(rank, world, port, out):
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    info = DistInfo(rank=rank, world_size=world)
    model, critic, batch, cfg = _setup()
    local = [t[local_slice(GLOBAL_BATCH, info)] for t in batch]
    forward = nn.parallel.DistributedDataParallel(sync_batchnorm(PairForward(model, True)))
    logged, state, grads = _step(model, critic, forward, local, cfg, info)
    x = torch.full((2, 3), float(rank), requires_grad=True)
    gathered = gather_with_grad(x, info)
    gathered.sum().backward()
    torch.save({"logged": logged, "state": state, "grads": grads, "gathered": gathered.detach(), "grad": x.grad}, f"{out}/{rank}.pt")
    # Both ranks finish their collectives before either tears gloo down: without this barrier a rank
    # that leaves first could abort the other ("terminate called without an active exception", 1 in 6).
    dist.barrier()
    dist.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(300)
def test_two_gloo_processes_match_one_process(tmp_path):
    model, critic, batch, cfg = _setup()
    want_logged, want_state, want_grads = _step(model, critic, PairForward(model, True), batch, cfg, DistInfo())
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    for rank in range(2):
        got = torch.load(tmp_path / f"{rank}.pt", weights_only=False)
        for key in ("instance", "class", "triplet", "category", "align", "total", "critic"):
            assert got["logged"][key] == pytest.approx(want_logged[key], rel=1e-5, abs=1e-6), key
        # Same (clipped) gradients, and after one step the same weights and BatchNorm statistics.
        assert set(got["grads"]) == set(want_grads)
        for name, value in want_grads.items():
            assert torch.allclose(got["grads"][name], value, atol=1e-5), name
        for name, value in want_state.items():
            assert torch.allclose(got["state"][name].float(), value.float(), atol=1e-5), name
        # all_gather keeps rank order and sends gradients only to the local part.
        assert got["gathered"][:2].eq(0).all() and got["gathered"][2:].eq(1).all()
        assert torch.equal(got["grad"], torch.ones(2, 3))
