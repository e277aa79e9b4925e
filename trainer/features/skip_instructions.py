"""Skip-instructions (im2recipe / SEJE): a word-LSTM sentence encoder trained to predict the next sentence.

The encoder half turns each instruction sentence into a fixed vector and is part of the recipe
side at inference, so it is export-friendly: the LSTM runs on the padded input and each row's
output is gathered at its last valid step (no packed sequences, no Python loop over tokens).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from seje_sdk.errors import DataError
from seje_sdk.progress import progress_bar
from seje_sdk.text import EOS_ID, PAD_ID, Vocab, encode_sentence, split_sentences

from trainer.features.checkpoint import load_module, save_module
from trainer.features.config import FeatureConfig


def gather_last(outputs: Tensor, lengths: Tensor) -> Tensor:
    """outputs (N,L,H) at step lengths-1 of each row -> (N,H); rows with length 0 give zeros."""
    idx = (lengths - 1).clamp(min=0).view(-1, 1, 1).expand(-1, 1, outputs.shape[2])
    last = outputs.gather(1, idx)[:, 0]  # not squeeze(1): that exports as an ONNX If node
    return last * (lengths > 0).unsqueeze(1).to(last.dtype)


class SentenceEncoder(nn.Module):
    """Word embedding (initialised from Word2vec) + LSTM; a sentence's vector is its last valid state."""

    def __init__(self, vocab_size: int, word_dim: int, hidden: int):
        super().__init__()
        self.config = {"vocab_size": vocab_size, "word_dim": word_dim, "hidden": hidden}
        self.embed = nn.Embedding(vocab_size, word_dim, padding_idx=PAD_ID)
        self.lstm = nn.LSTM(word_dim, hidden, batch_first=True)
        self.hidden = hidden

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """tokens (N,L) int64, lengths (N,) int64 -> (N, hidden)."""
        outputs, _ = self.lstm(self.embed(tokens))
        return gather_last(outputs, lengths)


class SkipInstructions(nn.Module):
    """Encoder-decoder: the current sentence's vector starts a decoder LSTM that predicts the next sentence."""

    def __init__(self, encoder: SentenceEncoder):
        super().__init__()
        self.encoder = encoder
        word_dim, hidden = encoder.config["word_dim"], encoder.hidden
        self.decoder = nn.LSTM(word_dim, hidden, batch_first=True)
        self.out = nn.Linear(hidden, encoder.config["vocab_size"])

    def loss(self, cur: Tensor, cur_len: Tensor, nxt: Tensor) -> Tensor:
        """Teacher-forced cross-entropy of the next sentence's tokens (padding ignored)."""
        h0 = self.encoder(cur, cur_len).unsqueeze(0)
        start = torch.full_like(nxt[:, :1], EOS_ID)  # <eos> doubles as the start symbol
        dec_in = self.encoder.embed(torch.cat([start, nxt[:, :-1]], dim=1))
        dec_out, _ = self.decoder(dec_in, (h0, torch.zeros_like(h0)))
        logits = self.out(dec_out)
        return nn.functional.cross_entropy(logits.flatten(0, 1), nxt.flatten(), ignore_index=PAD_ID)


def pad_ids(seqs: Sequence[Sequence[int]]) -> tuple[Tensor, Tensor]:
    """Right-pad id lists to (N, L) int64 with lengths (N,)."""
    width = max([len(s) for s in seqs] + [1])
    ids = torch.zeros(len(seqs), width, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return ids, torch.tensor([len(s) for s in seqs], dtype=torch.long)


def sentence_pairs(instructions: Sequence[Sequence[str]], vocab: Vocab, max_tokens: int) -> tuple[list, list]:
    """(current, next) sentence id lists from every recipe's consecutive instruction sentences."""
    cur, nxt = [], []
    for instr in instructions:
        sents = [encode_sentence(s, vocab, max_tokens) for s in split_sentences(list(instr))]
        cur.extend(sents[:-1])
        nxt.extend(sents[1:])
    return cur, nxt


def train_skip_instructions(
    instructions: Sequence[Sequence[str]], vocab: Vocab, word_vectors: np.ndarray, cfg: FeatureConfig
) -> tuple[SentenceEncoder, dict]:
    """Train on the training recipes' sentence pairs; returns the encoder (eval mode) and the last epoch's loss."""
    torch.manual_seed(cfg.seed)
    encoder = SentenceEncoder(len(vocab), word_vectors.shape[1], cfg.sentence_dim)
    with torch.no_grad():
        encoder.embed.weight.copy_(torch.from_numpy(word_vectors))
    model = SkipInstructions(encoder)
    cur, nxt = sentence_pairs(instructions, vocab, cfg.max_tokens)
    if not cur:
        raise DataError("skip-instructions: no training recipe has two or more instruction sentences")
    cur_ids, cur_len = pad_ids(cur)
    nxt_ids, _ = pad_ids(nxt)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.sentence_lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    model.train()
    mean_loss = float("nan")
    for epoch in range(cfg.sentence_epochs):
        order = torch.randperm(len(cur), generator=gen)
        total, batches = 0.0, 0
        bar = progress_bar(range(0, len(order), cfg.sentence_batch), desc=f"skip-instructions {epoch + 1}/{cfg.sentence_epochs}", leave=False)
        for start in bar:
            b = order[start : start + cfg.sentence_batch]
            loss = model.loss(cur_ids[b], cur_len[b], nxt_ids[b])
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            total, batches = total + loss.item(), batches + 1
            bar.set_postfix(loss=f"{total / batches:.3f}")
        mean_loss = total / max(batches, 1)
    return encoder.eval(), {"skip_instructions_loss": round(mean_loss, 4), "sentence_pairs": len(cur)}


@torch.no_grad()
def encode_recipes(
    encoder: SentenceEncoder, instructions: Sequence[Sequence[str]], vocab: Vocab, cfg: FeatureConfig, batch: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """Vectors of each recipe's first max_sentences sentences: (total, D) float32 and offsets (N+1,) int64."""
    sents, offsets = [], [0]
    for instr in instructions:
        ids = [encode_sentence(s, vocab, cfg.max_tokens) for s in split_sentences(list(instr))[: cfg.max_sentences]]
        sents.extend(ids)
        offsets.append(len(sents))
    encoder.eval()
    out = np.zeros((len(sents), encoder.hidden), dtype=np.float32)
    for start in progress_bar(range(0, len(sents), batch), desc="sentence vectors", leave=False):
        ids, lengths = pad_ids(sents[start : start + batch])
        out[start : start + len(ids)] = encoder(ids, lengths).numpy()
    return out, np.asarray(offsets, dtype=np.int64)


def save_sentence_encoder(encoder: SentenceEncoder, path: Path) -> None:
    """skip_instructions.pt: {"config", "state_dict"}."""
    save_module(encoder, path)


def load_sentence_encoder(features_dir: str | Path) -> SentenceEncoder:
    """The trained sentence encoder from FEATURES_DIR, in eval mode."""
    return load_module(SentenceEncoder, Path(features_dir) / "skip_instructions.pt")
