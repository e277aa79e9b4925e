"""The `bert` key-term ranker at run time: the bundle's tokenizer files and ranker graph, no torch.

Training ranks key terms KeyBERT-style with a sentence embedder (trainer.features.rankers:
transformers tokenizer + mean-pooled MiniLM). The export writes that embedder as `ranker.onnx`
(and a dynamic int8 `ranker.int8.onnx`) and its tokenizer as `tables/bert/tokenizer.json`. Here
the `tokenizers` package (the Rust library that transformers' fast tokenizers wrap) reads the
same file and ONNX Runtime runs the graph, so the scores equal training's without torch or
transformers.

Example:
    >>> ranker = BertRanker.from_bundle(bundle)                            # doctest: +SKIP
    >>> ranker(["garlic", "Fry the garlic in oil."]).shape                 # doctest: +SKIP
    (2, 384)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from seje_sdk.errors import BackendError, BundleError

DEFAULT_MAX_TOKENS = 128  # trainer.features.rankers.MAX_BERT_TOKENS; the manifest states the bundle's own
PAD_TOKEN = "[PAD]"
TERM_CHARS = 40  # texts this short (key terms) are cached by text
TERM_CACHE_SIZE = 1 << 15


def load_tokenizer(path: str | Path, max_tokens: int) -> Any:
    """A `tokenizers.Tokenizer` from tokenizer.json, truncating at max_tokens and padding to each batch's longest."""
    try:
        from tokenizers import Tokenizer
    except ImportError as e:  # pragma: no cover - tokenizers is a core dependency
        raise BackendError("the bert ranker needs the `tokenizers` package: pip install tokenizers") from e
    path = Path(path)
    if not path.is_file():
        raise BundleError(f"{path}: the bert ranker's tokenizer file is missing (re-export the bundle)")
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as e:  # tokenizers raises a plain Exception on a malformed file
        raise BundleError(f"{path}: not a tokenizers file ({e})") from e
    pad_id = tokenizer.token_to_id(PAD_TOKEN)
    if pad_id is None:
        raise BundleError(f"{path}: the tokenizer has no {PAD_TOKEN} token")
    # Same as training's tokenizer(texts, padding=True, truncation=True, max_length=max_tokens):
    # the saved file's own padding (fixed length) and truncation settings are replaced.
    tokenizer.enable_truncation(max_length=max_tokens)
    tokenizer.enable_padding(pad_id=pad_id, pad_token=PAD_TOKEN)
    return tokenizer


class BertRanker:
    """texts -> (n, d) L2-normalised sentence embeddings: the `bert_fn` that seje_sdk.terms expects."""

    def __init__(self, tokenizer_file: str | Path, model_file: str | Path, max_tokens: int = DEFAULT_MAX_TOKENS,
                 device: str = "cpu", threads: int = 0, batch_size: int = 64):
        from seje_sdk.backends.onnxruntime import OrtSession

        self.tokenizer = load_tokenizer(tokenizer_file, max_tokens)
        self.session = OrtSession(model_file, device=device, intra_op_threads=threads)
        self.batch_size = batch_size
        self.dim = None
        self._terms: dict[str, np.ndarray] = {}  # embeddings of short texts (key terms), see __call__

    @classmethod
    def from_bundle(cls, bundle: Any, precision: str = "fp32", device: str = "cpu", threads: int = 0) -> "BertRanker":
        """The ranker of a bundle exported with `--ranker bert`; precision int8 uses ranker.int8.onnx when present."""
        entry = bundle.manifest.get("ranker", {})
        if entry.get("name") != "bert" or "model" not in entry:
            raise BundleError(f"bundle {bundle.path}: no bert ranker in its manifest (ranker {entry.get('name')!r})")
        model = entry.get("int8_model") if precision == "int8" and entry.get("int8_model") else entry["model"]
        tokenizer = bundle.file(f"{entry.get('tokenizer', 'tables/bert')}/tokenizer.json", "ranker tokenizer")
        model_file = bundle.file(model, "ranker model")
        return cls(tokenizer, model_file, int(entry.get("max_tokens", DEFAULT_MAX_TOKENS)), device, threads)

    def encode(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """input_ids and attention_mask (B, T) int64 of one batch, padded to its longest text."""
        encodings = self.tokenizer.encode_batch(list(texts))
        return {"input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64)}

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        known = {t: v for t in dict.fromkeys(texts) if (v := self._terms.get(t)) is not None}
        todo = [t for t in dict.fromkeys(texts) if t not in known]
        # Sorted by length, so a batch of one- or two-word terms is not padded to a recipe's 128 tokens;
        # each row's mean pooling is masked, so batch composition does not change its result.
        todo.sort(key=len)
        fresh: dict[str, np.ndarray] = {}
        for i in range(0, len(todo), self.batch_size):
            chunk = todo[i:i + self.batch_size]
            fresh.update(zip(chunk, self.session.run(self.encode(chunk))["embedding"].astype(np.float32, copy=False)))
        for text, vector in fresh.items():
            if len(text) <= TERM_CHARS:  # key terms recur across recipes (salt, bake, oven): keep them
                if len(self._terms) >= TERM_CACHE_SIZE:
                    self._terms.clear()
                self._terms[text] = vector
        if not texts:
            return np.zeros((0, self.dim or 0), np.float32)
        out = np.stack([fresh[t] if t in fresh else known[t] for t in texts])
        self.dim = out.shape[1]
        return out
