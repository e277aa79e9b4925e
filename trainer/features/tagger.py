"""Ingredient tagger: a BiLSTM over an ingredient line's tokens + a linear decision per token.

Labels come from det_ingrs.json: a token is positive when it belongs to the line's detected
ingredient name ("2 cups chopped fresh basil" + "basil" -> only "basil"). The backward
direction reads each row's valid part reversed by index gathering, so the module exports to
ONNX with dynamic batch and length (no packed sequences).
"""
from __future__ import annotations

from difflib import SequenceMatcher
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from seje_sdk.errors import DataError
from seje_sdk.progress import progress_bar
from seje_sdk.terms import MAX_LINE_TOKENS, TaggerFn, TermTables, join_phrases
from seje_sdk.text import Vocab, tokenize

from trainer.features.checkpoint import load_module, save_module
from trainer.features.config import FeatureConfig
from trainer.features.skip_instructions import pad_ids

IGNORE = -100
TYPO_SIMILARITY = 0.8  # difflib ratio above which a line token is taken as a misspelt name token


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


def _same_word(a: str, b: str) -> bool:
    """Equal, singular/plural of each other, or a likely typo (similarity >= 0.8, both at least 4 letters)."""
    if a == b or a.rstrip("s") == b.rstrip("s") or a + "es" == b or b + "es" == a:
        return True
    a, b = a.rstrip("s"), b.rstrip("s")
    return min(len(a), len(b)) >= 4 and SequenceMatcher(None, a, b).ratio() >= TYPO_SIMILARITY


def _find_span(tokens: list[str], name: list[str]) -> int | None:
    """Start of the first contiguous occurrence of `name` in `tokens`, word by word `_same_word`."""
    for start in range(len(tokens) - len(name) + 1):
        if all(_same_word(tokens[start + j], name[j]) for j in range(len(name))):
            return start
    return None


def line_labels(line: str, det_name: str, keep_unmatched: bool = False) -> tuple[list[str], list[int]] | None:
    """Tokens of a raw line and 0/1 labels for the det name's tokens.

    The name's first contiguous occurrence is labelled, plural- and typo-tolerant ("2 cups tomatos
    or cherry tomatoes" + "tomatoes" -> only "tomatos": an "or" alternative comes later), else each
    token that matches a name token. A line where the name is not found at
    all is None, or all-zero labels with keep_unmatched (evaluation: every line counts, and a
    tag there is a false positive).
    """
    tokens = tokenize(line)[:MAX_LINE_TOKENS]
    name = [t for t in tokenize(det_name) if not t[0].isdigit()]
    if not tokens:
        return None
    labels = [0] * len(tokens)
    if name:
        start = _find_span(tokens, name)
        if start is not None:
            labels[start : start + len(name)] = [1] * len(name)
            return tokens, labels
        labels = [int(any(_same_word(t, n) for n in name)) for t in tokens]
    return (tokens, labels) if any(labels) or keep_unmatched else None


def labelled_lines(recipes: Iterable, every_line: bool = False) -> list[tuple[list[str], list[int]]]:
    """Labelled (tokens, labels) of the given Recipe records' ingredient lines.

    Training (default): the valid det_ingrs lines whose name is found in the line. Evaluation
    (every_line=True): every non-empty line; lines without a valid det name, or whose name is not
    found, count with all-zero labels, so nothing is silently left out.
    """
    out = []
    for r in recipes:
        dets, valids = r.det_ingredients or [], r.det_valid or []
        for i, line in enumerate(r.ingredients):
            det = dets[i] if i < len(dets) else ""
            valid = bool(valids[i]) if i < len(valids) else False
            if valid and det:
                item = line_labels(line, det, keep_unmatched=every_line)
            elif every_line:
                tokens = tokenize(line)[:MAX_LINE_TOKENS]
                item = (tokens, [0] * len(tokens)) if tokens else None
            else:
                item = None
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
        bar = progress_bar(range(0, len(order), cfg.tagger_batch), desc=f"tagger {epoch + 1}/{cfg.tagger_epochs}", leave=False)
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
    """Token P/R/F1 and exact-line accuracy of the tagger and of the contextless dictionary lookup.

    Pass every held-out line (labelled_lines(..., every_line=True)): lines with no ingredient
    count too, and any token tagged there is a false positive.
    """
    if not items:
        return {}
    pred, base, gold, exact = [], [], [], {"tagger": 0, "dictionary": 0}
    for start in range(0, len(items), 512):
        chunk = items[start : start + 512]
        ids, lengths, _ = _batch(chunk, tables.vocab)
        logits = tagger(ids, lengths)
        for row, (tokens, labels) in enumerate(chunk):
            p = (logits[row, : len(tokens), 1] > logits[row, : len(tokens), 0]).int().tolist()
            b = dictionary_tags(tokens, tables)
            exact["tagger"] += p == list(labels)
            exact["dictionary"] += b == list(labels)
            pred.extend(p)
            base.extend(b)
            gold.extend(labels)
    n = len(items)
    return {
        "tagger": {**token_prf(pred, gold), "line_exact": round(exact["tagger"] / n, 4)},
        "dictionary": {**token_prf(base, gold), "line_exact": round(exact["dictionary"] / n, 4)},
        "lines": n,
        "lines_without_ingredient": sum(not any(labels) for _, labels in items),
    }


def save_tagger(tagger: IngredientTagger, path: Path) -> None:
    """tagger.pt: {"config", "state_dict"}."""
    save_module(tagger, path)


def load_tagger(features_dir: str | Path) -> IngredientTagger:
    """The trained tagger from FEATURES_DIR, in eval mode."""
    return load_module(IngredientTagger, Path(features_dir) / "tagger.pt")
