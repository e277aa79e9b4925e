"""The text query encoder: typed words ("grilled beet pancakes") -> a point near their photos.

Trained after the main fit, in the fitted joint space, against the FROZEN model's image
embeddings, so the recipe and image encoders (and full-recipe retrieval) do not change. Input:
the bundle vocabulary's word ids of the text (seje_sdk.text_query.encode_texts; 0 pads), looked
up in the features' frozen Word2vec rows (unit length), pooled by masked mean and max, then a
small MLP to the joint space, L2-normalised. Each epoch draws one text per training recipe:
its title (most often), the title plus a few ingredient names, ingredient names only, or a few
of the title's words, so any of these shapes of typed text lands near the recipe's photos.
The loss is the project's batch-hard soft-margin triplet (trainer.losses.triplet_loss).
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seje_sdk.errors import DataError, InputError
from seje_sdk.io import atomic_file, write_json
from seje_sdk.text_query import MAX_QUERY_TOKENS, known_ids, pad_token_ids

CHECKPOINT = "text_encoder.pt"  # in RUN_DIR, its training summary beside it as text_encoder.json
# Shapes of training text and their shares: what people type, what the benchmark measures.
FORMS = ("title", "title_ingredients", "ingredients", "title_words")
FORM_SHARES = (0.5, 0.2, 0.15, 0.15)


@dataclass(frozen=True)
class TextEncoderConfig:
    """How the text encoder is built and trained (TrainConfig's text_encoder_* fields set epochs and seed)."""

    epochs: int = 40
    seed: int = 0
    hidden: int = 1024
    batch_size: int = 100
    lr: float = 3e-3  # decayed to 0 over the epochs (cosine)
    dropout: float = 0.3
    train_words: bool = True  # learn an offset to each Word2vec row (the rows themselves stay frozen)
    max_tokens: int = MAX_QUERY_TOKENS
    val_bags: int = 5
    val_seed: int = 1234

    def __post_init__(self) -> None:
        for name in ("epochs", "hidden", "batch_size", "max_tokens", "val_bags"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise InputError(f"text encoder config: {name} must be a positive integer, got {value!r}")


class TextEncoder(nn.Module):
    """token_ids (B,L) int64, 0 = padding -> embedding (B,D) L2-normalised."""

    def __init__(self, word_vectors: Tensor, embed_dim: int, hidden: int = 1024, dropout: float = 0.3,
                 train_words: bool = True) -> None:
        super().__init__()
        rows = F.normalize(torch.as_tensor(word_vectors, dtype=torch.float32), dim=1)
        self.register_buffer("word_vectors", rows)  # frozen: rebuilt from FEATURES_DIR, not saved
        # What the photos show that the recipe text's Word2vec does not tell apart ("grilled" vs
        # "charred"): a learned offset per word, zero at the start (None: the rows alone).
        self.word_offsets = nn.Parameter(torch.zeros_like(rows)) if train_words else None
        dim = rows.shape[1]
        self.mlp = nn.Sequential(nn.Linear(2 * dim, hidden), nn.LeakyReLU(0.02), nn.Dropout(dropout),
                                 nn.Linear(hidden, embed_dim))

    def forward(self, token_ids: Tensor) -> Tensor:
        mask = (token_ids > 0).unsqueeze(-1).to(self.word_vectors.dtype)
        table = self.word_vectors if self.word_offsets is None else self.word_vectors + self.word_offsets
        words = F.embedding(token_ids, table) * mask
        count = mask.sum(dim=1)
        mean = words.sum(dim=1) / count.clamp_min(1.0)
        peak = (words + (mask - 1.0) * 1e4).max(dim=1).values * (count > 0).to(words.dtype)
        return F.normalize(self.mlp(torch.cat([mean, peak], dim=1)), dim=1)


def build_text_encoder(word_vectors: np.ndarray, embed_dim: int, cfg: TextEncoderConfig) -> TextEncoder:
    """A fresh text encoder over the features' Word2vec rows, seeded by cfg.seed."""
    torch.manual_seed(cfg.seed)
    return TextEncoder(torch.from_numpy(np.asarray(word_vectors)), embed_dim, cfg.hidden, cfg.dropout, cfg.train_words)


# ------------------------------------------------------------------ training texts
@dataclass
class RecipeWords:
    """One recipe's known word ids: title words, and per ingredient its name's words."""

    title: list[int]
    ingredients: list[list[int]]


def recipe_words(recipes: Sequence[Any], vocab: Any) -> list[RecipeWords]:
    """Word ids of each recipe's title and ingredient names (det_ingredients, else the raw lines)."""
    out = []
    for r in recipes:
        names = [n for n, ok in zip(r.det_ingredients, r.det_valid) if ok and n] or list(r.ingredients)
        ingredients = [ids for ids in (known_ids(n, vocab) for n in names) if ids]
        out.append(RecipeWords(known_ids(r.title or "", vocab), ingredients))
    return out


def sample_text(words: RecipeWords, rng: np.random.Generator) -> list[int]:
    """One training text of a recipe, in one of FORMS (falling back to what the recipe has)."""
    form = FORMS[int(rng.choice(len(FORMS), p=FORM_SHARES))]
    title, ingredients = words.title, words.ingredients
    if not ingredients or form == "title" and title:
        return title or [w for ids in ingredients for w in ids]
    picked = [ingredients[i] for i in sorted(rng.choice(len(ingredients), size=min(len(ingredients),
                                                                                  int(rng.integers(1, 4))), replace=False))]
    if form == "title_ingredients" or not title:
        return title + [w for ids in picked for w in ids]
    if form == "ingredients":
        every = rng.random() < 0.5
        return [w for ids in (ingredients if every else picked) for w in ids]
    keep = rng.random(len(title)) < 0.6
    keep[int(rng.integers(len(title)))] = True
    return [w for w, k in zip(title, keep) if k]


# ------------------------------------------------------------------ targets
@torch.no_grad()
def split_image_embeddings(model: Any, run_dir: Path, store: Any, split: Any, spec: Any) -> tuple[Tensor, Tensor]:
    """Frozen image embeddings of every image of `split` (flat) and offsets (N+1,) per recipe.

    Uses the run's cached centre-crop backbone features when they match the split, else runs
    the image encoder on the centre crops (what the SDK and eval see either way).
    """
    from trainer.checkpoints import load_plain
    from trainer.datasets import category_features
    from trainer.evaluate import embed_images_torch

    encoder = model.image_encoder.eval()
    cat, offsets = category_features(store, split, encoder.category_feature, encoder.category_temperature)
    cache = run_dir / "cache" / f"{split.name}_features.pt"
    if cache.is_file():
        saved = load_plain(cache)
        if saved["key"].get("images") == split.image_ids and saved["features"].shape[0] == len(cat):
            feats = saved["features"][:, 0]
            return torch.cat([encoder.embed_features(feats[s:s + 512], cat[s:s + 512])
                              for s in range(0, len(feats), 512)]), offsets
    paths = [p for ps in split.image_paths for p in ps]
    return torch.from_numpy(embed_images_torch(model, paths, spec)), offsets


def _score(images: np.ndarray, texts: np.ndarray, cfg: TextEncoderConfig) -> tuple[float, dict]:
    """Validation: text -> image R@1 + 0.8 R@5 + 0.6 R@10 (ties against) on seeded bags, and the bags."""
    from trainer.evaluate import bag_metrics

    bags = bag_metrics(images, texts, 1000, cfg.val_bags, seed=cfg.val_seed)
    r2i = bags["ties_against"]["recipe_to_image"]
    return r2i["r1"]["mean"] + 0.8 * r2i["r5"]["mean"] + 0.6 * r2i["r10"]["mean"], bags


# ------------------------------------------------------------------ training
def train_text_encoder(run_dir: str | Path, cfg: TextEncoderConfig = TextEncoderConfig(), which: str = "best",
                       log: Any = print, out: str | Path | None = None) -> dict[str, Any]:
    """Fit the text encoder of RUN_DIR's trained model; write RUN_DIR/text_encoder.pt (or `out`) and its
    .json summary beside it; return the summary."""
    from trainer.config import config_from_dict
    from trainer.data.recipe1m import read_split
    from trainer.datasets import load_split
    from trainer.features.store import FeatureStore
    from trainer.losses import triplet_loss
    from trainer.model import load_run
    from seje_sdk.image import ImageSpec

    start = time.perf_counter()
    run_dir = Path(run_dir)
    model, config = load_run(run_dir, which)
    model.requires_grad_(False)  # frozen: only the text encoder learns
    train_cfg = config_from_dict(config)
    store = FeatureStore.load(config["features_dir"])
    spec = ImageSpec.for_size(int(config["resolved_image_size"]))
    data_dir = Path(config["data_dir"])
    splits = {name: load_split(data_dir, store, name, train_cfg.max_images if name == "train" else 1)
              for name in ("train", "val")}
    records = {name: {r.id: r for r in read_split(data_dir, name, require_images=True)} for name in splits}
    words = {name: recipe_words([records[name][i] for i in split.recipe_ids], store.vocab)
             for name, split in splits.items()}
    images, offsets = split_image_embeddings(model, run_dir, store, splits["train"], spec)
    val_images, _ = split_image_embeddings(model, run_dir, store, splits["val"], spec)
    val_ids = torch.from_numpy(pad_token_ids([w.title or [i for ids in w.ingredients for i in ids]
                                              for w in words["val"]], cfg.max_tokens))
    labels = torch.from_numpy(splits["train"].labels)
    encoder = build_text_encoder(store.word_vectors, model.embed_dim, cfg)
    optimizer = torch.optim.Adam([p for p in encoder.parameters() if p.requires_grad], lr=cfg.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs)
    n, batch = len(words["train"]), min(cfg.batch_size, len(words["train"]))
    best: dict[str, Any] = {"score": -np.inf}
    history = []
    for epoch in range(cfg.epochs):
        rng = np.random.default_rng([cfg.seed, epoch])
        order = rng.permutation(n)
        texts = [sample_text(w, rng) for w in words["train"]]
        pick = offsets[:-1] + torch.from_numpy((rng.random(n) * np.diff(offsets.numpy())).astype(np.int64))
        encoder.train()
        losses = []
        for s in range(0, n - batch + 1, batch):
            idx = order[s:s + batch]
            torch.manual_seed(cfg.seed * 1_000_003 + epoch * 10_007 + s)
            emb = encoder(torch.from_numpy(pad_token_ids([texts[i] for i in idx], cfg.max_tokens)))
            loss = triplet_loss(images[pick[idx]], emb, labels[idx], train_cfg.triplet_gamma, train_cfg.triplet_margin,
                                train_cfg.double_negatives, train_cfg.class_negative_weight)["triplet"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        schedule.step()
        encoder.eval()
        with torch.no_grad():
            score, bags = _score(val_images.numpy(), encoder(val_ids).numpy(), cfg)
        r2i = bags["ties_against"]["recipe_to_image"]
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)), "val_score": score,
                        **{f"val_title_{m}": r2i[m]["mean"] for m in ("medr", "r1", "r5", "r10")}})
        if score > best["score"]:
            best = {"score": score, "epoch": epoch + 1,
                    "state": {k: v.clone() for k, v in encoder.state_dict().items() if k != "word_vectors"}}
        log(f"text encoder epoch {epoch + 1}/{cfg.epochs}: loss {history[-1]['loss']:.4f} val title->image "
            f"R@1 {r2i['r1']['mean']:.1f} MedR {r2i['medr']['mean']:.1f}" + (" *" if best["epoch"] == epoch + 1 else ""))
    summary = {"config": asdict(cfg), "checkpoint": which, "best_epoch": best["epoch"], "best_score": best["score"],
               "history": history, "n_train": n, "n_val": len(words["val"]), "seconds": time.perf_counter() - start}
    out = Path(out) if out is not None else run_dir / CHECKPOINT
    with atomic_file(out) as f:
        torch.save({"state": best["state"], "config": asdict(cfg), "embed_dim": int(model.embed_dim),
                    "word_dim": int(store.word_vectors.shape[1]), "vocab_size": len(store.vocab)}, f)
    write_json(out.with_suffix(".json"), summary)
    return summary


def load_text_encoder(run_dir: str | Path, word_vectors: np.ndarray | None = None,
                      path: str | Path | None = None) -> TextEncoder | None:
    """RUN_DIR's trained text encoder (or the one saved at `path`) in eval mode, or None when there is none."""
    from trainer.checkpoints import load_plain

    run_dir = Path(run_dir)
    path = Path(path) if path is not None else run_dir / CHECKPOINT
    if not path.is_file():
        return None
    saved = load_plain(path, fix="delete it and rebuild it with `seje-train text-encoder --run RUN_DIR`")
    if word_vectors is None:
        config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
        word_vectors = np.load(Path(config["features_dir"]) / "word2vec.npy")
    if word_vectors.shape != (saved["vocab_size"], saved["word_dim"]):
        raise DataError(f"{path}: trained on {saved['vocab_size']}x{saved['word_dim']} word vectors, the features "
                        f"have {word_vectors.shape}; rebuild it with `seje-train text-encoder --run {run_dir}`")
    encoder = build_text_encoder(word_vectors, int(saved["embed_dim"]), TextEncoderConfig(**saved["config"]))
    encoder.load_state_dict({**saved["state"], "word_vectors": encoder.word_vectors})
    return encoder.eval()
