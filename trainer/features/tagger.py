"""Ingredient tagger: a BiLSTM over an ingredient line's tokens + a linear decision per token.

Labels come from det_ingrs.json: a token is positive when it belongs to the line's detected
ingredient name ("2 cups chopped fresh basil" + "basil" -> only "basil"). The backward
direction reads each row's valid part reversed by index gathering, so the module exports to
ONNX with dynamic batch and length (no packed sequences).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from seje_sdk.errors import DataError
from seje_sdk.terms import MAX_LINE_TOKENS, TaggerFn, TermTables, join_phrases
from seje_sdk.text import Vocab, tokenize

from trainer.features.checkpoint import load_module, save_module
from trainer.features.config import FeatureConfig
from trainer.features.skip_instructions import pad_ids

IGNORE = -100


def reverse_valid(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each row's first lengths[b] steps of x (B,L,...) and leave the padding in place."""
    steps = torch.arange(x.shape[1], device=x.device).unsqueeze(0)
    rev = lengths.unsqueeze(1) - 1 - steps
    idx = torch.where(rev >= 0, rev, steps)
    return x.gather(1, idx.view(*idx.shape, *([1] * (x.dim() - 2))).expand_as(x))


class IngredientTagger(nn.Module):
    """Token logits (B,L,2): is this token part of the ingredient name?"""

    def __init__(self, vocab_size: int, word_dim: int, hidden: int):
        super().__init__()
        self.config = {"vocab_size": vocab_size, "word_dim": word_dim, "hidden": hidden}
        self.embed = nn.Embedding(vocab_size, word_dim, padding_idx=0)
        self.forward_lstm = nn.LSTM(word_dim, hidden, batch_first=True)
        self.backward_lstm = nn.LSTM(word_dim, hidden, batch_first=True)
        self.decision = nn.Linear(2 * hidden, 2)  # the paper's per-token logistic decision

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """tokens (B,L) int64, lengths (B,) int64 -> logits (B,L,2)."""
        emb = self.embed(tokens)
        fwd, _ = self.forward_lstm(emb)
        bwd, _ = self.backward_lstm(reverse_valid(emb, lengths))
        return self.decision(torch.cat([fwd, reverse_valid(bwd, lengths)], dim=2))


def line_labels(line: str, det_name: str) -> tuple[list[str], list[int]] | None:
    """Tokens of a raw line and 0/1 labels for the det name's tokens (its last contiguous match, else each token).

    None when the det name does not occur in the line at all.
    """
    tokens = tokenize(line)[:MAX_LINE_TOKENS]
    name = [t for t in tokenize(det_name) if not t[0].isdigit()]
    if not tokens or not name:
        return None
    labels = [0] * len(tokens)
    for start in range(len(tokens) - len(name), -1, -1):
        if tokens[start : start + len(name)] == name:
            labels[start : start + len(name)] = [1] * len(name)
            return tokens, labels
    wanted = set(name)
    labels = [int(t in wanted) for t in tokens]
    return (tokens, labels) if any(labels) else None


def labelled_lines(recipes: Iterable) -> list[tuple[list[str], list[int]]]:
    """Labelled (tokens, labels) for every valid det_ingrs line of the given Recipe records."""
    out = []
    for r in recipes:
        for line, det, valid in zip(r.ingredients, r.det_ingredients or [], r.det_valid or []):
            if valid and det:
                item = line_labels(line, det)
                if item is not None:
                    out.append(item)
    return out


def _batch(items: Sequence[tuple[list[str], list[int]]], vocab: Vocab) -> tuple[Tensor, Tensor, Tensor]:
    ids, lengths = pad_ids([vocab.encode(t) for t, _ in items])
    labels = torch.full(ids.shape, IGNORE, dtype=torch.long)
    for i, (_, lab) in enumerate(items):
        labels[i, : len(lab)] = torch.tensor(lab)
    return ids, lengths, labels


def train_tagger(
    items: Sequence[tuple[list[str], list[int]]], vocab: Vocab, word_vectors: np.ndarray, cfg: FeatureConfig
) -> IngredientTagger:
    """Cross-entropy over every real token; embeddings start from Word2vec."""
    if not items:
        raise DataError("tagger: no training ingredient line matches its det_ingrs.json name; check det_ingrs.json")
    torch.manual_seed(cfg.seed)
    tagger = IngredientTagger(len(vocab), word_vectors.shape[1], cfg.tagger_hidden)
    with torch.no_grad():
        tagger.embed.weight.copy_(torch.from_numpy(word_vectors))
    opt = torch.optim.Adam(tagger.parameters(), lr=cfg.tagger_lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    tagger.train()
    for epoch in range(cfg.tagger_epochs):
        order = torch.randperm(len(items), generator=gen).tolist()
        bar = tqdm(range(0, len(order), cfg.tagger_batch), desc=f"tagger {epoch + 1}/{cfg.tagger_epochs}", leave=False)
        for start in bar:
            ids, lengths, labels = _batch([items[i] for i in order[start : start + cfg.tagger_batch]], vocab)
            loss = nn.functional.cross_entropy(tagger(ids, lengths).flatten(0, 1), labels.flatten(), ignore_index=IGNORE)
            opt.zero_grad()
            loss.backward()
            opt.step()
            bar.set_postfix(loss=f"{loss.item():.3f}")
    return tagger.eval()


def torch_tagger_fn(tagger: IngredientTagger) -> TaggerFn:
    """The tagger as the numpy callable seje_sdk.terms expects."""

    @torch.no_grad()
    def run(tokens: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        return tagger(torch.from_numpy(tokens), torch.from_numpy(lengths)).numpy()

    return run


def dictionary_tags(tokens: Sequence[str], tables: TermTables) -> list[int]:
    """Baseline: 1 for tokens covered by a known entity (longest phrase match, else a single-word entity)."""
    tags: list[int] = []
    for piece in join_phrases(tokens, tables.phrases):
        width = piece.count("_") + 1 if piece in tables.entities and "_" in piece else 1
        tags.extend([int(piece in tables.entities)] * width)
    return tags


def token_prf(pred: Iterable[int], gold: Iterable[int]) -> dict[str, float]:
    """Token-level precision / recall / F1 of the positive class."""
    p, g = np.fromiter(pred, dtype=np.int64), np.fromiter(gold, dtype=np.int64)
    tp = int(((p == 1) & (g == 1)).sum())
    precision = tp / max(int(p.sum()), 1)
    recall = tp / max(int(g.sum()), 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-12)
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


@torch.no_grad()
def evaluate_tagger(tagger: IngredientTagger, items: Sequence[tuple[list[str], list[int]]], tables: TermTables) -> dict:
    """Token P/R/F1 of the tagger and of the dictionary baseline on held-out labelled lines."""
    if not items:
        return {}
    pred, base, gold = [], [], []
    for start in range(0, len(items), 512):
        chunk = items[start : start + 512]
        ids, lengths, _ = _batch(chunk, tables.vocab)
        logits = tagger(ids, lengths)
        for row, (tokens, labels) in enumerate(chunk):
            pred.extend((logits[row, : len(tokens), 1] > logits[row, : len(tokens), 0]).int().tolist())
            base.extend(dictionary_tags(tokens, tables))
            gold.extend(labels)
    return {"tagger": token_prf(pred, gold), "dictionary": token_prf(base, gold), "lines": len(items)}


def save_tagger(tagger: IngredientTagger, path: Path) -> None:
    """tagger.pt: {"config", "state_dict"}."""
    save_module(tagger, path)


def load_tagger(features_dir: str | Path) -> IngredientTagger:
    """The trained tagger from FEATURES_DIR, in eval mode."""
    return load_module(IngredientTagger, Path(features_dir) / "tagger.pt")
