"""A Triton Inference Server model repository from a finished bundle (`seje-export --triton DIR`).

One model per graph (seje_image_encoder, seje_recipe_encoder, seje_tagger, seje_sentence_encoder
for MiniLM bundles, whose recipe model then takes sentence vectors, and seje_text_encoder for bundles
with a typed-text encoder, always ONNX: it has no engine), each with a
config.pbtxt (dynamic batching; every non-batch axis that varies is -1) and version 1 holding
model.plan when TensorRT engines were built (fp16 preferred) or model.onnx otherwise. The
tables stay in the bundle: Triton serves the neural graphs, the SDK-side code does the rest.

Batching text requests: Triton's dynamic batcher only joins requests whose shapes are equal, and
the SDK pads a recipe batch to its own longest sentence, so two clients' recipe (or tagger)
requests would never be batched together. Clients that want server-side batching pad every
request to the bundle's limits with `pad_to_limits` first; padding is masked by the lengths,
so the embeddings do not change (tests/test_triton.py checks it with ONNX Runtime). Typed-text
requests (`role="text"`, `token_ids` from `seje_sdk.text_query.encode_texts`) pad to the text
encoder's `max_tokens` the same way:

    >>> import tritonclient.http as triton                                   # doctest: +SKIP
    >>> from seje_sdk.bundle import Bundle
    >>> limits = Bundle.load("bundle/").text_limits                          # doctest: +SKIP
    >>> feeds = pad_to_limits("recipe", feeds, limits.max_sentences, limits.max_tokens)  # doctest: +SKIP
    >>> inputs = []
    >>> for name, array in feeds.items():                                    # doctest: +SKIP
    ...     tensor = triton.InferInput(name, array.shape, "INT64" if array.dtype == "int64" else "FP32")
    ...     tensor.set_data_from_numpy(array)
    ...     inputs.append(tensor)
    >>> triton.InferenceServerClient("localhost:8000").infer("seje_recipe_encoder", inputs)  # doctest: +SKIP
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from export.onnx import IMAGE, RECIPE, RECIPE_VECTORS, SENTENCE, GraphSpec
from export.sentence_graph import graph_specs
from export.text_encoder import TEXT
from seje_sdk.sentences import SPLIT_GRAPH

MODEL_PREFIX = "seje_"
MAX_QUEUE_DELAY_US = 100  # wait at most 0.1 ms to gather a batch: latency first


def pad_to_limits(role: str, feeds: dict[str, np.ndarray], max_sentences: int, max_tokens: int,
                  max_ingredient_tokens: int | None = None) -> dict[str, np.ndarray]:
    """Zero-pad recipe, tagger or text feeds to the bundle's limits, so every request has one shape and batches on Triton.

    For role "text", `max_tokens` is the text encoder's (manifest `text_encoder.max_tokens`).
    """
    if role == "recipe":
        tokens, lengths = feeds["sentence_tokens"], feeds["sentence_lengths"]
        b, s, t = tokens.shape
        if s > max_sentences or t > max_tokens:
            raise ValueError(f"recipe feeds of shape {tokens.shape} exceed the limits ({max_sentences}, {max_tokens})")
        return {"sentence_tokens": np.pad(tokens, ((0, 0), (0, max_sentences - s), (0, max_tokens - t))),
                "sentence_lengths": np.pad(lengths, ((0, 0), (0, max_sentences - s))),
                "term_feature": feeds["term_feature"]}
    if role == "tagger":
        tokens = feeds["tokens"]
        if max_ingredient_tokens is None or tokens.shape[1] > max_ingredient_tokens:
            raise ValueError(f"tagger feeds of shape {tokens.shape} need max_ingredient_tokens >= {tokens.shape[1]}")
        return {"tokens": np.pad(tokens, ((0, 0), (0, max_ingredient_tokens - tokens.shape[1]))), "lengths": feeds["lengths"]}
    if role == "text":
        ids = feeds["token_ids"]
        if ids.shape[1] > max_tokens:
            raise ValueError(f"text feeds of shape {ids.shape} exceed max_tokens {max_tokens}")
        return {"token_ids": np.pad(ids, ((0, 0), (0, max_tokens - ids.shape[1])))}
    raise ValueError(f"pad_to_limits: role must be 'recipe', 'tagger' or 'text', got {role!r}")


def _tensor_dims(spec: GraphSpec, image_size: int, embedding_dim: int, num_classes: int, word_dim: int,
                 sentence_dim: int = 384) -> dict[str, tuple[str, list[int]]]:
    """Triton data type and dims (batch axis excluded) of every input/output of one graph."""
    if spec == IMAGE:
        return {"pixels": ("TYPE_FP32", [3, image_size, image_size]), "embedding": ("TYPE_FP32", [embedding_dim]),
                "category_logits": ("TYPE_FP32", [num_classes])}
    if spec == RECIPE:
        return {"sentence_tokens": ("TYPE_INT64", [-1, -1]), "sentence_lengths": ("TYPE_INT64", [-1]),
                "term_feature": ("TYPE_FP32", [word_dim]), "embedding": ("TYPE_FP32", [embedding_dim])}
    if spec == RECIPE_VECTORS:  # MiniLM bundles: the recipe graph on the sentence graph's vectors
        return {"sentence_vectors": ("TYPE_FP32", [-1, sentence_dim]), "num_sentences": ("TYPE_INT64", []),
                "term_feature": ("TYPE_FP32", [word_dim]), "embedding": ("TYPE_FP32", [embedding_dim])}
    if spec == TEXT:
        return {"token_ids": ("TYPE_INT64", [-1]), "embedding": ("TYPE_FP32", [embedding_dim])}
    if spec == SENTENCE:
        return {"input_ids": ("TYPE_INT64", [-1]), "attention_mask": ("TYPE_INT64", [-1]),
                "embedding": ("TYPE_FP32", [sentence_dim])}
    return {"tokens": ("TYPE_INT64", [-1]), "lengths": ("TYPE_INT64", []), "logits": ("TYPE_FP32", [-1, 2])}


def _tensor_block(name: str, dtype: str, dims: list[int]) -> str:
    # A per-item scalar (the tagger's `lengths`, shape (B,)) is declared as [1] and reshaped to
    # [], Triton's documented idiom for batch-only tensors.
    shape = dims or [1]
    reshape = "\n    reshape: { shape: [ ] }" if not dims else ""
    return (f"  {{\n    name: \"{name}\"\n    data_type: {dtype}\n    dims: [ {', '.join(map(str, shape))} ]{reshape}\n  }}")


def config_pbtxt(spec: GraphSpec, platform: str, max_batch: int, dims: dict[str, tuple[str, list[int]]]) -> str:
    """The text of one model's config.pbtxt."""
    inputs = ",\n".join(_tensor_block(n, *dims[n]) for n in spec.inputs)
    outputs = ",\n".join(_tensor_block(n, *dims[n]) for n in spec.outputs)
    return (
        f"name: \"{MODEL_PREFIX}{spec.stem}\"\n"
        f"platform: \"{platform}\"\n"
        f"max_batch_size: {max_batch}\n"
        f"input [\n{inputs}\n]\n"
        f"output [\n{outputs}\n]\n"
        f"dynamic_batching {{\n  max_queue_delay_microseconds: {MAX_QUEUE_DELAY_US}\n}}\n"
    )


def write_triton_repo(bundle_dir: str | Path, triton_dir: str | Path, manifest: dict[str, Any]) -> Path:
    """Write the model repository for the bundle at `bundle_dir` (its manifest already built)."""
    from seje_sdk.io import atomic_dir, atomic_file

    bundle_dir = Path(bundle_dir)
    engines = manifest["variants"].get("tensorrt", {})
    precision = next((p for p in ("fp16", "fp32") if isinstance(engines.get(p), dict)), None)
    max_batch = int(manifest["max_batch"])
    sentences = manifest["text"].get("sentence_encoder") or {}
    split = sentences.get("graph") == SPLIT_GRAPH  # MiniLM as its own model (seje_sentence_encoder)
    specs = [*graph_specs(split), *([TEXT] if manifest.get("text_encoder") else [])]
    with atomic_dir(triton_dir) as tmp:
        for spec in specs:
            if precision and spec != TEXT:
                src, name, platform = bundle_dir / engines[precision][spec.role], "model.plan", "tensorrt_plan"
            else:
                src, name, platform = bundle_dir / spec.filename("fp32"), "model.onnx", "onnxruntime_onnx"
            model_dir = tmp / f"{MODEL_PREFIX}{spec.stem}"
            (model_dir / "1").mkdir(parents=True)
            shutil.copyfile(src, model_dir / "1" / name)
            dims = _tensor_dims(spec, int(manifest["image"]["size"]), int(manifest["embedding_dim"]),
                                len(manifest["category_names"]), int(manifest["text"]["word_dim"]),
                                int(sentences.get("dim", 384)))
            with atomic_file(model_dir / "config.pbtxt", "w") as f:
                f.write(config_pbtxt(spec, platform, max_batch, dims))
    return Path(triton_dir)
