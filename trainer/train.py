"""`run_fit`: train the SEJE joint embedding into RUN_DIR (config.json, checkpoints, metrics.jsonl).

One step: embed the local share of the global batch, all-gather embeddings (DDP), train the
critic on the detached global batch, then the encoders on the triplet (global negatives) plus
the category and alignment losses (local, averaged by DDP). Every step reseeds torch from
(seed, epoch, step) and every epoch's order comes from (seed, epoch), so a resumed run repeats
exactly what an uninterrupted one does.
"""
from __future__ import annotations

import contextlib
import json
import math
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from seje_sdk.errors import InputError
from seje_sdk.image import ImageSpec
from seje_sdk.io import atomic_file, write_json
from seje_sdk.progress import progress_bar
from trainer import distributed as D
from trainer.checkpoints import convert_command, load_plain
from trainer.config import SMALL_COLLECTION_PAIRS, TrainConfig, config_from_dict, resolve_config
from trainer.data.validate import check_dataset
from trainer.datasets import (PairSplit, PixelPairs, cache_backbone_features, category_features, load_split,
                              recipe_tensors)
from trainer.evaluate import bag_metrics, selection_score
from trainer.field_dropout import FieldDropout
from trainer.losses import Discriminator, alignment_loss, category_loss, critic_loss, triplet_loss
from trainer.model import SejeModel, build_model, load_trained_state, trained_state


@dataclass
class Schedule:
    """Where training stands: the release's plateau and stopping rule, and model selection."""

    epoch: int = 0  # completed epochs
    step: int = 0  # completed steps of the current epoch (non-zero only after an interrupt)
    best_score: float = -math.inf
    best_epoch: int = -1
    bad_epochs: int = 0
    stage: str = "main"  # "main", then "plateau" after patience runs out (lr dropped)
    plateau_epochs: int = 0  # epochs trained at the dropped lr
    done: bool = False
    history: list[dict] = field(default_factory=list)

    def update(self, score: float, cfg: TrainConfig) -> bool:
        """Record a validation score; returns True when it is the best so far.

        As the release's train.py: after `plateau_patience` consecutive validations without a new
        best the lr drops and the count restarts; training stops after `stop_patience` more
        consecutive validations without a new best (or at `epochs`).
        """
        improved = score > self.best_score
        if improved:
            self.best_score, self.best_epoch, self.bad_epochs = score, self.epoch, 0
        else:
            self.bad_epochs += 1
        if self.stage == "plateau":
            self.plateau_epochs += 1
            self.done = self.bad_epochs >= cfg.stop_patience
        elif self.bad_epochs >= cfg.plateau_patience:
            self.stage, self.bad_epochs = "plateau", 0
        self.done = self.done or self.epoch >= cfg.epochs
        return improved

    def lr(self, cfg: TrainConfig) -> float:
        return cfg.lr if self.stage == "main" else cfg.lr_after_plateau


class PairForward(nn.Module):
    """Both encoders on one batch; the module DDP wraps (its forward is what DDP hooks)."""

    def __init__(self, model: SejeModel, cached: bool) -> None:
        super().__init__()
        self.model, self.cached = model, cached

    def forward(self, image_input: Tensor, category_feature: Tensor, vectors: Tensor, counts: Tensor,
                terms: Tensor) -> tuple[Tensor, Tensor]:
        enc = self.model.image_encoder
        features = image_input if self.cached else enc.backbone(enc.normalise(image_input))
        img = enc.embed_features(features, category_feature)
        rec = self.model.recipe_encoder.forward_from_vectors(vectors, counts, terms)
        return img, rec


def seje_losses(img: Tensor, rec: Tensor, labels: Tensor, model: SejeModel, critic: nn.Module | None,
                cfg: TrainConfig, info: D.DistInfo) -> tuple[Tensor, dict[str, float]]:
    """The encoders' objective on the local share (img, rec, labels) of a global batch.

    Returns the tensor to backpropagate and the global-batch loss values. The triplet term sees
    the gathered global batch; each process's gradient covers only its own slice, so the term
    is scaled by the world size to give, after DDP's averaging, the single-process gradient.
    Category and alignment terms are per-sample means: local means averaged by DDP are the
    global means already.
    """
    labels_all = D.gather_with_grad(labels, info)
    img_all, rec_all = D.gather_with_grad(img, info), D.gather_with_grad(rec, info)
    trip = triplet_loss(img_all, rec_all, labels_all, cfg.triplet_gamma, cfg.triplet_margin,
                        cfg.double_negatives, cfg.class_negative_weight)
    objective = trip["triplet"] * info.world_size
    logged = {k: v.detach() for k, v in trip.items()}
    local = {}
    if cfg.category_loss:
        local["category"] = category_loss(model.category_head, img, rec, labels)
        objective = objective + cfg.category_weight * local["category"]
    if critic is not None:
        # Images are the real side; with adversarial_side="recipe" (release) only rec gets this gradient.
        local["align"] = alignment_loss(critic, img, rec, cfg.adversarial_side)
        objective = objective + cfg.align_weight * local["align"]
    for k, v in local.items():
        value = v.detach().clone()
        if info.enabled:
            torch.distributed.all_reduce(value)
            value /= info.world_size
        logged[k] = value
    total = logged["triplet"] + cfg.category_weight * logged.get("category", 0.0) + cfg.align_weight * logged.get("align", 0.0)
    logged["total"] = total
    return objective, {k: float(v) for k, v in logged.items()}


def optimisation_step(forward: nn.Module, model: SejeModel, critic: nn.Module | None,
                      optimizer: torch.optim.Optimizer, critic_opt: torch.optim.Optimizer | None,
                      inputs: list[Tensor], cfg: TrainConfig, info: D.DistInfo) -> dict[str, float]:
    """One step on the local share of a global batch: critic update, then the encoders'."""
    image_input, cat, vectors, counts, terms, labels = inputs
    bf16 = cfg.bf16 and image_input.device.type == "cuda"
    with torch.autocast("cuda", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
        img, rec = forward(image_input, cat, vectors, counts, terms)
    img, rec = img.float(), rec.float()
    if critic is not None:
        # Critic first, on the detached global batch (identical on every process); images are real.
        c_loss = critic_loss(critic, D.gather_with_grad(img, info).detach(), D.gather_with_grad(rec, info).detach(),
                             cfg.gp_weight)
        critic_opt.zero_grad(set_to_none=True)
        c_loss.backward()
        critic_opt.step()
    objective, logged = seje_losses(img, rec, labels, model, critic, cfg, info)
    optimizer.zero_grad(set_to_none=True)
    objective.backward()
    if cfg.grad_clip is not None:  # the release does not clip
        nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], cfg.grad_clip)
    optimizer.step()
    if critic is not None:
        logged["critic"] = float(c_loss.detach())
    return logged


class Trainer:
    """Holds the model, data and optimisers of one run; `fit` runs the epochs."""

    def __init__(self, cfg: TrainConfig, data_dir: Path, features_dir: Path, out_dir: Path, info: D.DistInfo) -> None:
        from trainer.features.store import FeatureStore

        self.cfg, self.data_dir, self.features_dir, self.out_dir, self.info = cfg, data_dir, features_dir, out_dir, info
        self.device = torch.device(f"cuda:{info.local_rank}" if torch.cuda.is_available() else "cpu")
        self.store = FeatureStore.load(features_dir)
        self.image_size = int(cfg.image_size or self.store.config["image_size"])
        self.spec = ImageSpec.for_size(self.image_size)
        if cfg.field_dropout > 0 and self.store.sentence_fields:
            raise InputError("field_dropout needs features without MiniLM field slots (minilm_fields: false): "
                             "a dropped title or ingredient list has no vector to stand in for it")
        torch.manual_seed(cfg.seed)
        self.model = build_model(cfg, features_dir).to(self.device)
        if not cfg.category_loss:  # unused parameters would stall DDP's gradient reduction
            self.model.category_head.requires_grad_(False)
        self.train_split = load_split(data_dir, self.store, "train", cfg.max_images)
        self.val_split = load_split(data_dir, self.store, "val", 1)
        self.train_recipes = recipe_tensors(self.store, self.train_split.rows, int(self.store.config["max_sentences"]))
        self.val_recipes = recipe_tensors(self.store, self.val_split.rows, int(self.store.config["max_sentences"]))
        self.field_dropout = (FieldDropout.build(cfg.field_dropout, self.train_recipes.terms, data_dir, features_dir,
                                                 self.store, self.train_split.recipe_ids, cfg.seed)
                              if cfg.field_dropout > 0 else None)
        mode = (cfg.category_feature, cfg.category_temperature)
        self.train_cat, self.train_offsets = category_features(self.store, self.train_split, *mode)
        self.val_cat, _ = category_features(self.store, self.val_split, *mode)
        self.cached = cfg.freeze_backbone
        if self.cached:
            self.train_feats = self._cache(self.train_split, cfg.augment_views)
            self.val_feats = self._cache(self.val_split, 0)
        self.forward = PairForward(self.model, self.cached)
        if info.enabled:
            self.forward = nn.parallel.DistributedDataParallel(
                D.sync_batchnorm(self.forward),
                device_ids=[info.local_rank] if self.device.type == "cuda" else None)
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(params, lr=cfg.lr)
        self.critic = Discriminator(cfg.embed_dim).to(self.device) if cfg.discriminator_loss else None
        self.critic_opt = (torch.optim.Adam(self.critic.parameters(), lr=cfg.critic_lr, betas=(0.5, 0.999))
                           if self.critic is not None else None)
        self.schedule = Schedule()

    # ---- data ----
    def _cache(self, split: PairSplit, views: int) -> Tensor:
        """Frozen-backbone features of every image, computed once and kept in RUN_DIR/cache."""
        # Centre crops alone do not depend on the seed: runs with other seeds can share the cache.
        key = {"split": split.name, "views": views, "image_size": self.image_size, "seed": self.cfg.seed if views else None,
               "augmentation": self.cfg.augmentation,
               "backbone": self.cfg.backbone or self.store.config["backbone"], "images": split.image_ids}
        path = self.out_dir / "cache" / f"{split.name}_features.pt"
        if path.is_file():
            saved = load_plain(path, fix=f"delete it (it is recomputed) or, if you trust this run folder, "
                                        f"rewrite it with `{convert_command(self.out_dir)}`")
            # A cache with more augmented views serves fewer: view 0 is always the centre crop.
            if {**saved["key"], "views": views} == key and saved["key"]["views"] >= views:
                return saved["features"][:, : 1 + views]
        feats = None
        if self.info.is_main:
            feats = cache_backbone_features(self.model.image_encoder, split, self.spec, views, self.cfg.seed,
                                            self.cfg.augmentation)
            with atomic_file(path) as f:
                torch.save({"key": key, "features": feats}, f)
        D.barrier(self.info)
        if feats is None:
            feats = load_plain(path)["features"]
        return feats

    def epoch_plan(self, epoch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """(order, image choice, view choice, global batch) of an epoch, from (seed, epoch) only."""
        rng = np.random.default_rng([self.cfg.seed, epoch])
        n = len(self.train_split)
        order = rng.permutation(n)
        n_images = np.diff(self.train_offsets.numpy())
        image = (rng.random(n) * n_images).astype(np.int64)
        view = rng.integers(0, 1 + self.cfg.augment_views, size=n)
        batch = min(self.cfg.batch_size, n)
        batch -= batch % self.info.world_size
        if batch < 2:
            raise InputError(f"training split has {n} recipes: too few for a batch of pairs")
        return order, image, view, batch

    def batch_inputs(self, idx: np.ndarray, image: np.ndarray, view: np.ndarray, pixels: Tensor | None,
                     fields: np.ndarray | None = None) -> list[Tensor]:
        """Local batch tensors: image input (cached features or pixels), category feature, recipe, labels.

        `fields`: the epoch's field masks (field dropout); recipes lose the fields outside theirs.
        """
        flat = self.train_offsets[idx].numpy() + image[idx]
        image_input = self.train_feats[flat, view[idx]] if self.cached else pixels
        vectors, counts, terms = self.train_recipes.batch(torch.from_numpy(idx))
        if fields is not None:
            counts, terms = self.field_dropout.apply(idx, fields, counts)
        labels = torch.from_numpy(self.train_split.labels[idx])
        return [t.to(self.device) for t in (image_input, self.train_cat[flat], vectors, counts, terms, labels)]

    def pixel_batches(self, batches: list[np.ndarray], image: np.ndarray, epoch: int) -> Any:
        """Augmented pixels of each batch, decoded by DataLoader workers (fine-tuning path only)."""
        if self.cached:
            return iter([None] * len(batches))
        keys = [[(int(i), int(image[i]), int(np.random.SeedSequence([self.cfg.seed, epoch, int(i)]).generate_state(1)[0]))
                 for i in idx] for idx in batches]
        return iter(torch.utils.data.DataLoader(PixelPairs(self.train_split, self.spec, train=True,
                                                                           augmentation=self.cfg.augmentation), batch_sampler=keys,
                                                num_workers=self.cfg.num_workers))

    # ---- training ----
    def train_step(self, inputs: list[Tensor]) -> dict[str, float]:
        return optimisation_step(self.forward, self.model, self.critic, self.optimizer, self.critic_opt,
                                 inputs, self.cfg, self.info)

    def run_epoch(self) -> dict[str, float]:
        """Train the remaining steps of the current epoch; returns the mean of each logged loss."""
        epoch, first = self.schedule.epoch, self.schedule.step
        order, image, view, batch = self.epoch_plan(epoch)
        local = D.local_slice(batch, self.info)
        batches = [order[s * batch:(s + 1) * batch][local] for s in range(first, len(order) // batch)]
        pixels = self.pixel_batches(batches, image, epoch)
        fields = self.field_dropout.masks(epoch, len(order)) if self.field_dropout is not None else None
        self.model.train()
        totals: dict[str, float] = {}
        bar = progress_bar(enumerate(batches, start=first), total=len(batches), desc=f"epoch {epoch + 1}/{self.cfg.epochs}",
                   leave=False, disable=not self.info.is_main)
        for step, idx in bar:
            torch.manual_seed(self.cfg.seed * 1_000_003 + epoch * 10_007 + step)
            logged = self.train_step(self.batch_inputs(idx, image, view, next(pixels), fields))
            for k, v in logged.items():
                totals[k] = totals.get(k, 0.0) + v
            self.schedule.step = step + 1
            done = step + 1 - first
            bar.set_postfix({k: f"{v / done:.3f}" for k, v in totals.items() if k in ("total", "triplet", "critic")})
        return {k: v / max(len(batches), 1) for k, v in totals.items()}

    @torch.no_grad()
    def validate(self) -> dict[str, Any]:
        """Val bags on the centre crop of each recipe's first image; the model-selection score."""
        self.model.eval()
        enc, out_img = self.model.image_encoder, []
        for start in range(0, len(self.val_split), 256):
            sl = slice(start, start + 256)
            if self.cached:
                feats = self.val_feats[sl, 0].to(self.device)
            else:
                pixels = PixelPairs(self.val_split, self.spec, train=False)
                batch = torch.stack([pixels[(i, 0, 0)] for i in range(*sl.indices(len(self.val_split)))])
                feats = enc.backbone(enc.normalise(batch.to(self.device)))
            out_img.append(enc.embed_features(feats, self.val_cat[sl].to(self.device)).float().cpu())
        vectors, counts, terms = self.val_recipes.vectors, self.val_recipes.counts, self.val_recipes.terms
        rec = self.model.recipe_encoder.forward_from_vectors(vectors.to(self.device), counts.to(self.device),
                                                             terms.to(self.device)).float().cpu()
        bags = bag_metrics(torch.cat(out_img).numpy(), rec.numpy(), self.cfg.val_bag_size, self.cfg.val_bags,
                           seed=self.cfg.val_seed)
        return {"score": selection_score(bags), "bags": bags}

    def set_lr(self) -> None:
        """Learning rates of the schedule's stage: after the plateau every optimiser drops."""
        plateau = self.schedule.stage == "plateau"
        for opt, lr in ((self.optimizer, self.cfg.lr), (self.critic_opt, self.cfg.critic_lr)):
            for group in (opt.param_groups if opt is not None else []):
                group["lr"] = self.cfg.lr_after_plateau if plateau else lr

    # ---- checkpoints ----
    def state(self) -> dict[str, Any]:
        return {
            "model": trained_state(self.model), "optimizer": self.optimizer.state_dict(),
            "critic": self.critic.state_dict() if self.critic is not None else None,
            "critic_opt": self.critic_opt.state_dict() if self.critic_opt is not None else None,
            "schedule": asdict(self.schedule), "config": self.cfg.to_dict(),
        }

    def save(self, name: str) -> None:
        if self.info.is_main:
            with atomic_file(self.out_dir / "checkpoints" / f"{name}.pt") as f:
                torch.save(self.state(), f)

    def load(self, path: Path) -> None:
        state = load_plain(path, map_location=self.device)
        load_trained_state(self.model, state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.critic is not None and state["critic"] is not None:
            self.critic.load_state_dict(state["critic"])
            self.critic_opt.load_state_dict(state["critic_opt"])
        self.schedule = Schedule(**state["schedule"])
        self.set_lr()

    def write_metrics(self) -> None:
        if self.info.is_main:
            with atomic_file(self.out_dir / "metrics.jsonl", "w") as f:
                for row in self.schedule.history:
                    f.write(json.dumps(row, sort_keys=True) + "\n")

    def fit(self) -> None:
        """Epochs until the plateau rule, max epochs or the `stop_after_epoch` test aid says stop."""
        cfg, sched = self.cfg, self.schedule
        try:
            while not sched.done:
                losses = self.run_epoch()
                sched.epoch, sched.step = sched.epoch + 1, 0
                val = self.validate()
                improved = sched.update(val["score"], cfg)
                self.set_lr()
                i2r, r2i = val["bags"]["image_to_recipe"], val["bags"]["recipe_to_image"]
                sched.history.append({
                    "epoch": sched.epoch, "lr": sched.lr(cfg), "stage": sched.stage, "val_score": val["score"],
                    **{f"loss_{k}": v for k, v in losses.items()},
                    **{f"val_i2r_{m}": i2r[m]["mean"] for m in ("medr", "r1", "r5", "r10")},
                    **{f"val_r2i_{m}": r2i[m]["mean"] for m in ("medr", "r1", "r5", "r10")},
                })
                if improved:
                    self.save("best")
                self.save("last")
                self.write_metrics()
                if self.info.is_main:
                    tqdm.write(f"epoch {sched.epoch}: loss {losses.get('total', float('nan')):.4f} "
                               f"val i2r R@1 {i2r['r1']['mean']:.1f} R@10 {i2r['r10']['mean']:.1f} "
                               f"MedR {i2r['medr']['mean']:.1f} score {val['score']:.1f}"
                               + (" *" if improved else "") + (f" [lr {sched.lr(cfg):g}]" if sched.stage != "main" else ""))
                if cfg.stop_after_epoch is not None and sched.epoch >= cfg.stop_after_epoch and not sched.done:
                    return  # simulated interruption: last.pt lets --resume continue
        except KeyboardInterrupt:
            self.save("last")  # mid-epoch: schedule.step says how far the epoch got
            self.write_metrics()
            if self.info.is_main:
                tqdm.write(f"interrupted: checkpoint saved to {self.out_dir / 'checkpoints' / 'last.pt'}; "
                           "continue with --resume")
            raise
        if self.info.is_main and sched.history:
            best = sched.history[sched.best_epoch - 1]
            tqdm.write(f"best epoch {sched.best_epoch}: val i2r R@1 {best['val_i2r_r1']:.1f} "
                       f"R@5 {best['val_i2r_r5']:.1f} R@10 {best['val_i2r_r10']:.1f}")


def check_features_match(data_dir: Path, features_dir: Path) -> None:
    """Refuse FEATURES_DIR built from another dataset (its manifest's data fingerprint differs)."""
    from trainer.features.store import FeatureStore, data_fingerprint

    store = FeatureStore.load(features_dir)
    built = store.manifest.get("data_fingerprint", {})
    now = data_fingerprint(data_dir)
    changed = sorted(k for k in (set(built) | set(now)) - {"all"} if built.get(k) != now.get(k))
    if changed:
        raise InputError(
            f"FEATURES_DIR {features_dir} was built from another dataset than {data_dir} "
            f"(differs in: {', '.join(changed)}); rerun `seje-train features --data {data_dir} --out FEATURES_DIR`"
        )


def _library_versions() -> dict[str, str]:
    import torchvision

    return {"python": platform.python_version(), "torch": torch.__version__, "torchvision": torchvision.__version__,
            "numpy": np.__version__}


def run_fit(data_dir: str | Path, features_dir: str | Path, out_dir: str | Path, preset: str = "cpu",
            overrides: dict | None = None, resume: bool = False, config_file: str | Path | None = None,
            baseline: bool = False, check: bool = True) -> Path:
    """Train SEJE on a Recipe1M-layout folder with its FEATURES_DIR; returns RUN_DIR.

    Bad configs and features built from another dataset are refused before any training.
    With `resume`, the saved config (plus `overrides`) and checkpoints/last.pt continue the run.
    """
    data_dir, features_dir, out_dir = Path(data_dir), Path(features_dir), Path(out_dir)
    saved = out_dir / "config.json"
    if resume:
        if not (out_dir / "checkpoints" / "last.pt").is_file():
            raise InputError(f"--resume: {out_dir} has no checkpoints/last.pt to continue from")
        # runs saved before these options: whole recipes, the top-1 category feature
        base = {"field_dropout": 0.0, "category_feature": "top1", **json.loads(saved.read_text(encoding="utf-8"))}
        cfg = config_from_dict({**base, **(overrides or {})})
        resolve_config(cfg.preset, overrides=overrides)  # unknown override keys are still refused by name
    else:
        cfg = resolve_config(preset, config_file, overrides, baseline)
        if (out_dir / "checkpoints" / "last.pt").is_file():
            raise InputError(f"{out_dir} already holds a run; pass --resume to continue it or choose a new --out")
    if check:  # seconds, before any training (False when the caller, e.g. the CLI, already did)
        print(check_dataset(data_dir, "fit").summary())
    check_features_match(data_dir, features_dir)
    info = D.init_distributed()
    if cfg.batch_size < 2 * info.world_size:
        raise InputError(f"batch_size {cfg.batch_size} is too small for {info.world_size} processes")
    try:
        trainer = Trainer(cfg, data_dir, features_dir, out_dir, info)
        if info.is_main and cfg.preset == "cpu" and len(trainer.train_split) < SMALL_COLLECTION_PAIRS:
            print(f"hint: {len(trainer.train_split)} training pairs (under {SMALL_COLLECTION_PAIRS:,}): the small preset "
                  "(`--preset small` for features and fit) trained better on small collections (docs/small-collections.md)")
        if info.is_main:
            write_json(saved, {**cfg.to_dict(), "features_dir": str(features_dir.resolve()),
                               "data_dir": str(data_dir.resolve()), "resolved_image_size": trainer.image_size,
                               "resolved_backbone": cfg.backbone or trainer.store.config["backbone"],
                               "embed_dim": cfg.embed_dim, "world_size": info.world_size,
                               "versions": _library_versions()})
        if resume:
            trainer.load(out_dir / "checkpoints" / "last.pt")
        trainer.fit()
        if cfg.text_encoder and trainer.schedule.done and info.is_main:
            from trainer.query_encoder import TextEncoderConfig, train_text_encoder

            summary = train_text_encoder(out_dir, TextEncoderConfig(epochs=cfg.text_encoder_epochs, seed=cfg.seed),
                                         log=lambda line: None)
            best = summary["history"][summary["best_epoch"] - 1]
            tqdm.write(f"text encoder: best epoch {summary['best_epoch']}/{cfg.text_encoder_epochs}, val title->image "
                       f"R@1 {best['val_title_r1']:.1f} MedR {best['val_title_medr']:.1f} ({summary['seconds']:.0f} s)")
    finally:
        D.cleanup(info)
    return out_dir
