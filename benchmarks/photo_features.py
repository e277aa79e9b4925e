"""How much dish does each photo-feature variant read from a photo? Frozen ImageNet features vs cheap fine-tuning.

    python -m benchmarks.photo_features --data runs/DATA --out benchmarks/results/photo_features

One frozen EfficientNet-Lite0 pass per photo (and its mirror) caches the activations at the input
of stage 4 (of 0..6); every variant then trains on that cache only: a linear head on the pooled
features (the cpu preset's classifier), an MLP head, pooled features of several stages
(multi-scale), the last stage's spatial map, and fine-tuning the last 1, 2 or 3 stages with the
conv head. Per variant: val and test photo top-1 over the dish categories, "true dish" retrieval
(the query is a test recipe's dish; photos are ranked by the classifier's probability of it; MedR
and R@1 over 1k-pair bags, chance and the category-only oracle beside it) and the training seconds.
"""
from __future__ import annotations

import copy
import os
import platform
import time
import warnings
from pathlib import Path
from typing import Callable

import click
import numpy as np
import torch
from torch import Tensor, nn

from benchmarks.report import write_json_and_markdown
from seje_sdk.io import write_json

CUT = 3  # the cache holds the input of the last 3 of lite0's 7 block stages (80 x 8 x 8 at 128 px)
FROZEN_EPOCHS = 30


def load_photos(data_dir: Path, image_size: int) -> tuple[dict, dict]:
    """Decoded photos and dish labels per partition, and the first photo of each test recipe's row index."""
    from trainer.data.recipe1m import read_split
    from trainer.features.categories import load_images

    sets, first = {}, []
    for part in ("train", "val", "test"):
        recipes = read_split(data_dir, part, require_images=True)
        items = [(iid, path, int(r.class_id or 0)) for r in recipes for iid, path in zip(r.image_ids, r.image_paths)]
        if part == "test":
            offsets = np.cumsum([0] + [len(r.image_ids) for r in recipes])[:-1]
            first = offsets.tolist()
        sets[part] = load_images(items, image_size, f"{part} photos")
    return sets, {"test_first": first}


def build_cache(sets: dict, batch: int) -> tuple[nn.Module, dict[str, Tensor]]:
    """The pretrained backbone and each partition's (N, 2, C, H, W) activations at the cut."""
    from trainer.backbones import build_backbone, split_backbone
    from trainer.features.categories import normalise
    from trainer.features.finetune import cache_activations

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, _ = build_backbone("efficientnet_lite0", pretrained=True)
    trunk, _ = split_backbone(model.eval(), CUT)
    return model, {p: cache_activations(trunk, s.pixels, normalise, batch, desc=f"{p} cache") for p, s in sets.items()}


@torch.no_grad()
def frozen_features(model: nn.Module, acts: Tensor) -> dict[str, Tensor]:
    """Frozen features of both views from the cache: pooled, multi-scale pooled, last-stage spatial; and stage inputs."""
    blocks = model.blocks
    out: dict[str, list[Tensor]] = {k: [] for k in ("pooled", "multiscale", "spatial", "in5", "in6")}
    for start in range(0, len(acts), 256):
        x = acts[start:start + 256].flatten(0, 1)
        s4 = blocks[4](x)
        s5 = blocks[5](s4)
        s6 = blocks[6](s5)
        head = model.bn2(model.conv_head(s6))
        pooled = [t.mean((2, 3)) for t in (x, s4, s5, s6, head)]
        n = len(acts[start:start + 256])
        for key, value in (("pooled", pooled[-1]), ("multiscale", torch.cat(pooled, 1)), ("spatial", s6.flatten(1)),
                           ("in5", s4), ("in6", s5)):
            out[key].append(value.reshape(n, 2, *value.shape[1:]))
    return {k: torch.cat(v) for k, v in out.items()}


def run_variant(top: nn.Module, head: nn.Module, feats: dict[str, Tensor], labels: Tensor, epochs: int, lr: float,
                seed: int, views: int = 2) -> tuple[dict[str, Tensor], float]:
    """Train head(top(.)) on the train cache; logits of val and test, and the training seconds."""
    from trainer.features.finetune import predict_from_cache, train_on_cache

    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    start = time.perf_counter()
    train_on_cache(top, head, feats["train"][:, :views], labels, epochs, lr, 1e-3, 32, gen)
    seconds = time.perf_counter() - start
    return {p: predict_from_cache(top, head, feats[p]) for p in ("val", "test")}, seconds


class Standardise(nn.Module):
    """x -> (x - mean) / std with the training set's statistics (fixed)."""

    def __init__(self, train: Tensor) -> None:
        super().__init__()
        flat = train.flatten(0, 1)
        self.register_buffer("mean", flat.mean(0))
        self.register_buffer("std", flat.std(0) + 1e-6)

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


def variants(model: nn.Module, acts: dict[str, Tensor], frozen: dict[str, dict[str, Tensor]], classes: int,
             seed: int, ft_epochs: int, ft_lr: float) -> dict[str, Callable[[], tuple[dict[str, Tensor], float]]]:
    """Name -> a thunk training that variant on the cache."""
    from trainer.backbones import split_backbone

    def feats(key: str) -> dict[str, Tensor]:
        return {p: frozen[p][key] for p in frozen}

    def linear(dim: int) -> nn.Module:
        torch.manual_seed(seed)
        return nn.Linear(dim, classes)

    def mlp() -> nn.Module:
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(1280, 512), nn.ReLU(), nn.Dropout(0.3), nn.Linear(512, classes))

    def finetune(stages: int, key: str | None) -> Callable:
        def go():
            m = copy.deepcopy(model)
            _, top = split_backbone(m, stages)
            for p in top.parameters():
                p.requires_grad_(True)
            f = feats(key) if key else acts
            return run_variant(top, nn.Sequential(nn.Dropout(0.2), linear(1280)), f, labels, ft_epochs, ft_lr, seed)
        return go

    labels = frozen["train"]["labels"]
    ms_dim = frozen["train"]["multiscale"].shape[-1]
    sp_dim = frozen["train"]["spatial"].shape[-1]
    return {
        "linear (cpu preset)": lambda: run_variant(nn.Identity(), linear(1280), feats("pooled"), labels, FROZEN_EPOCHS, 0, seed, 1),
        "linear + mirrored views": lambda: run_variant(nn.Identity(), linear(1280), feats("pooled"), labels, FROZEN_EPOCHS, 0, seed),
        "MLP head (1280-512-C)": lambda: run_variant(nn.Identity(), mlp(), feats("pooled"), labels, FROZEN_EPOCHS, 0, seed),
        "multi-scale pooled (stages 3-6 + head)": lambda: run_variant(
            Standardise(frozen["train"]["multiscale"]), linear(ms_dim), feats("multiscale"), labels, FROZEN_EPOCHS, 0, seed),
        "spatial last stage (320x4x4)": lambda: run_variant(
            Standardise(frozen["train"]["spatial"]), nn.Sequential(nn.Dropout(0.3), linear(sp_dim)), feats("spatial"),
            labels, FROZEN_EPOCHS, 0, seed),
        "fine-tune last stage + head": finetune(1, "in6"),
        "fine-tune last 2 stages + head": finetune(2, "in5"),
        "fine-tune last 3 stages + head": finetune(3, None),
    }


def dish_retrieval(logits: Tensor, labels: Tensor, first: list[int], seed: int) -> dict:
    """Query = a test recipe's true dish, gallery = its first photos, score = p(dish | photo); 1k-pair bags."""
    from trainer.evaluate import bag_metrics

    probs = torch.softmax(logits[first], 1).double().numpy()
    dish = labels[first].numpy()
    onehot = np.eye(probs.shape[1])[dish]
    bags = bag_metrics(probs, onehot, 1000, 10, seed, labels=dish)
    r2i, refs = bags["recipe_to_image"], bags["references"]
    return {"medr": r2i["medr"]["mean"], "r1": r2i["r1"]["mean"], "r10": r2i["r10"]["mean"],
            "oracle": refs["category_oracle"]["recipe_to_image"], "chance": refs["chance"]["recipe_to_image"],
            "pairs": len(first)}


def markdown(report: dict) -> str:
    """The variants table, references and the machine."""
    rows = report["variants"]
    ref = next(iter(rows.values()))["dish_retrieval"]
    lines = [f"Photo dish features on {report['data']} ({report['photos']}), EfficientNet-Lite0 at 128 px, seed "
             f"{report['seed']}; {report['threads']} torch threads; {report['machine']}; load before {report['load_before']}.",
             f"Activation cache (frozen trunk, photo + mirror, all partitions): {report['cache_seconds']:.0f} s "
             f"(decode {report['decode_seconds']:.0f} s). Frozen heads: {FROZEN_EPOCHS} epochs, lr 1e-3; fine-tuning: "
             f"{report['ft_epochs']} epochs, lr {report['ft_lr']:g} (head 1e-3), cosine decay; batch 32.", "",
             "| variant | val top-1 | test top-1 | true-dish MedR | true-dish R@1 | train s |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in rows.items():
        d = r["dish_retrieval"]
        lines.append(f"| {name} | {100 * r['val_top1']:.1f} | {100 * r['test_top1']:.1f} | {d['medr']:.1f} | "
                     f"{d['r1']:.1f} | {r['train_seconds']:.0f} |")
    for name in ("oracle", "chance"):
        lines.append(f"| category-only {name} (same bags) | | | {ref[name]['medr']:.1f} | {ref[name]['r1']:.1f} | |")
    lines += ["", f"True-dish retrieval: {ref['pairs']} test recipes (first photo each), 10 bags of 1000, recipe -> photo, "
              "photos ranked by softmax probability of the recipe's dish."]
    return "\n".join(lines) + "\n"


def stage_seconds(sets: dict, blocks: int, epochs: int, lr: float) -> dict:
    """Wall seconds and val top-1 of the features stage's classifier (cpu preset) with `finetune_blocks` = blocks."""
    import dataclasses

    from trainer.features.categories import train_classifier
    from trainer.features.config import PRESETS

    cfg = dataclasses.replace(PRESETS["cpu"], finetune_blocks=blocks, block_epochs=epochs, block_lr=lr)
    classes = int(max(int(s.labels.max()) for s in sets.values())) + 1
    load, start = os.getloadavg()[0], time.perf_counter()
    _, logits = train_classifier(sets, classes, cfg)
    return {"finetune_blocks": blocks, "seconds": time.perf_counter() - start, "load_before": round(load, 2),
            "threads": torch.get_num_threads(),
            "val_top1": float((logits["val"].argmax(1) == sets["val"].labels).float().mean())}


@click.command()
@click.option("--data", "data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="writes OUT.json and OUT.md")
@click.option("--seed", type=int, default=0)
@click.option("--ft-epochs", type=int, default=8, show_default=True, help="epochs of the fine-tuning variants")
@click.option("--ft-lr", type=float, default=3e-4, show_default=True, help="their learning rate (the head's: 1e-3)")
@click.option("--only", multiple=True, help="run only variants whose name contains this (repeatable)")
@click.option("--cache", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="keep the decoded photos' activation cache in this file and reuse it on a rerun")
@click.option("--time-stage", is_flag=True,
              help="instead: time the features stage's classifier without and with finetune_blocks=1 (--ft-epochs, --ft-lr)")
def main(data_dir: Path, out: Path, seed: int, ft_epochs: int, ft_lr: float, only: tuple[str, ...], cache: Path | None,
         time_stage: bool) -> None:
    """Train every photo-feature variant on one activation cache and report dish accuracy and retrieval."""
    load_before = os.getloadavg()[0]
    if time_stage:
        sets = load_photos(data_dir, 128)[0]
        rows = [stage_seconds(sets, blocks, ft_epochs, ft_lr) for blocks in (0, 1)]
        write_json(out.with_suffix(".json"), {"data": data_dir.name, "stage": rows})
        click.echo("\n".join(str(r) for r in rows))
        return
    if cache and cache.is_file():  # a rerun: the decoded labels and the activation cache from last time
        saved = torch.load(cache, weights_only=False)
        sets, extra, acts, decode, cache_seconds = (saved[k] for k in ("sets", "extra", "acts", "decode", "cache_seconds"))
        model = build_cache({}, 64)[0]
    else:
        start = time.perf_counter()
        sets, extra = load_photos(data_dir, 128)
        decode = time.perf_counter() - start
        start = time.perf_counter()
        model, acts = build_cache(sets, 64)
        cache_seconds = time.perf_counter() - start
        if cache:
            torch.save({"sets": sets, "extra": extra, "acts": acts, "decode": decode, "cache_seconds": cache_seconds}, cache)
    start = time.perf_counter()
    frozen = {p: {**frozen_features(model, a), "labels": sets[p].labels} for p, a in acts.items()}
    cache_seconds += time.perf_counter() - start
    classes = int(max(int(s.labels.max()) for s in sets.values())) + 1
    rows = {}
    for name, go in variants(model, acts, frozen, classes, seed, ft_epochs, ft_lr).items():
        if only and not any(o in name for o in only):
            continue
        logits, seconds = go()
        rows[name] = {"val_top1": float((logits["val"].argmax(1) == sets["val"].labels).float().mean()),
                      "test_top1": float((logits["test"].argmax(1) == sets["test"].labels).float().mean()),
                      "dish_retrieval": dish_retrieval(logits["test"], sets["test"].labels, extra["test_first"], seed),
                      "train_seconds": seconds}
        click.echo(f"{name}: {rows[name]}")
    report = {"data": data_dir.name, "seed": seed, "threads": torch.get_num_threads(), "load_before": round(load_before, 2),
              "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
              "photos": ", ".join(f"{p} {len(s.ids)}" for p, s in sets.items()), "decode_seconds": decode,
              "cache_seconds": cache_seconds, "ft_epochs": ft_epochs, "ft_lr": ft_lr, "variants": rows}
    write_json_and_markdown(out, report, markdown(report))
    click.echo(markdown(report))


if __name__ == "__main__":
    main()
