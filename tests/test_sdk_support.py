"""A small but real bundle for the SDK tests: tiny torch encoders with the bundle's ONNX I/O, real tables, sha256s.

Used by tests/test_sdk_*.py (imported as a module) so the SDK tests run in seconds without the
whole training chain; tests/test_sdk_parity.py checks the SDK against the real `tiny_bundle`.
The tagger is exact by construction (its logits say "entity" for entity tokens), so the term
features these tests expect can be computed independently with seje_sdk.terms and a lookup.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seje_sdk.bundle import BUNDLE_SCHEMA, bundle_fingerprint
from seje_sdk.io import sha256_file, write_json

WORDS = ["flour", "sugar", "butter", "egg", "eggs", "milk", "salt", "red", "wine", "red_wine", "tomato", "basil",
         "cup", "cups", "tbsp", "mix", "bake", "stir", "whisk", "boil", "pour", "oven", "bowl", "pan", "pot", "the",
         "in", "a", "and", "until", "golden", "minutes", "chop", "add", "serve", "pasta", "water", "1", "2", "3"]
ENTITIES = ["flour", "sugar", "butter", "egg", "eggs", "milk", "salt", "red_wine", "tomato", "basil", "pasta", "water"]
LEXICON = {"actions": ["mix", "bake", "stir", "whisk", "boil", "pour", "chop", "add", "serve"], "utensils": ["oven", "bowl", "pan", "pot"]}
CATEGORIES = ["background", "cake", "pasta"]
WORD_DIM, EMB_DIM, IMAGE_SIZE = 12, 16, 32

RECIPES = [
    {"id": "cake", "title": "Butter cake", "ingredients": [{"text": "2 cups flour"}, {"text": "1 cup sugar"}, {"text": "3 eggs"}],
     "instructions": [{"text": "Whisk the eggs and sugar in a bowl."}, {"text": "Bake in the oven until golden."}]},
    {"id": "pasta", "title": "Tomato pasta", "ingredients": ["pasta", "2 tomato", "basil"],
     "instructions": ["Boil the pasta in a pot of water.", "Stir in tomato and basil.", "Serve."]},
    {"id": "wine", "title": "Red wine sauce", "ingredients": ["1 cup red wine", "butter", "salt"],
     "instructions": ["Pour the red wine in a pan.", "Add butter and stir."]},
]


def _modules(vocab_size: int, entity_rows: list[int], seed: int):
    import torch
    from torch import nn

    torch.manual_seed(seed)

    class Image(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255)
            self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255)
            self.conv = nn.Conv2d(3, 8, 3, stride=2)
            self.head = nn.Linear(16, EMB_DIM)
            self.cls = nn.Linear(16, len(CATEGORIES))

        def forward(self, pixels):
            x = torch.relu(self.conv((pixels - self.mean) / self.std))
            x = torch.cat([x.mean((2, 3)), x.amax((2, 3))], 1)
            return nn.functional.normalize(self.head(x), dim=1), self.cls(x)

    class Recipe(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(vocab_size, 8)
            self.head = nn.Linear(8 + WORD_DIM, EMB_DIM)

        def forward(self, sentence_tokens, sentence_lengths, term_feature):
            steps = torch.arange(sentence_tokens.shape[2]).view(1, 1, -1)
            mask = (steps < sentence_lengths.unsqueeze(-1)).float().unsqueeze(-1)
            words = (self.emb(sentence_tokens) * mask).sum(2) / mask.sum(2).clamp(min=1)
            sent_mask = (sentence_lengths > 0).float().unsqueeze(-1)
            text = (words * sent_mask).sum(1) / sent_mask.sum(1).clamp(min=1)
            return nn.functional.normalize(self.head(torch.cat([text, term_feature], 1)), dim=1)

    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            weight = torch.zeros(vocab_size, 2)
            weight[:, 0] = 1.0
            weight[entity_rows] = torch.tensor([0.0, 1.0])
            self.emb = nn.Embedding.from_pretrained(weight)

        def forward(self, tokens, lengths):
            return self.emb(tokens) + 0.0 * lengths.view(-1, 1, 1).float()

    return Image().eval(), Recipe().eval(), Tagger().eval()


def _export(module, args, path: Path, inputs: list[str], outputs: list[str], axes: dict) -> None:
    import torch

    with torch.no_grad():
        torch.onnx.export(module, args, str(path), input_names=inputs, output_names=outputs, dynamic_axes=axes,
                          opset_version=17, dynamo=False)


def make_bundle(out: Path, seed: int = 0, int8: bool = True, title_terms: bool = False) -> Path:
    """Write a complete seje-bundle/1 folder to `out` and return it (`title_terms`: its model reads titles)."""
    import torch

    out = Path(out)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    tokens = ["<pad>", "<unk>", "<eos>"] + WORDS
    write_json(out / "tables" / "vocab.json", {t: i for i, t in enumerate(tokens)})
    rng = np.random.default_rng(seed)
    np.save(out / "tables" / "word2vec.npy", rng.normal(size=(len(tokens), WORD_DIM)).astype(np.float32))
    np.save(out / "tables" / "idf.npy", rng.uniform(0.5, 3.0, size=len(tokens)).astype(np.float32))
    np.save(out / "tables" / "category_vectors.npy", rng.normal(size=(len(CATEGORIES), WORD_DIM)).astype(np.float32))
    write_json(out / "tables" / "category_names.json", CATEGORIES)
    write_json(out / "tables" / "entities.json", ENTITIES)
    write_json(out / "tables" / "lexicon.json", LEXICON)
    # The tagger marks every token that is part of an entity (multi-word ones too: "red", "wine").
    entity_words = {w for e in ENTITIES for w in e.split("_")}
    image, recipe, tagger = _modules(len(tokens), [tokens.index(w) for w in entity_words], seed)
    _export(image, (torch.zeros(2, 3, IMAGE_SIZE, IMAGE_SIZE),), out / "image_encoder.onnx", ["pixels"],
            ["embedding", "category_logits"], {"pixels": {0: "batch"}, "embedding": {0: "batch"}, "category_logits": {0: "batch"}})
    _export(recipe, (torch.ones(2, 3, 4, dtype=torch.long), torch.full((2, 3), 4, dtype=torch.long), torch.zeros(2, WORD_DIM)),
            out / "recipe_encoder.onnx", ["sentence_tokens", "sentence_lengths", "term_feature"], ["embedding"],
            {"sentence_tokens": {0: "batch", 1: "sentences", 2: "tokens"}, "sentence_lengths": {0: "batch", 1: "sentences"},
             "term_feature": {0: "batch"}, "embedding": {0: "batch"}})
    _export(tagger, (torch.ones(2, 5, dtype=torch.long), torch.full((2,), 5, dtype=torch.long)), out / "tagger.onnx",
            ["tokens", "lengths"], ["logits"], {"tokens": {0: "batch", 1: "tokens"}, "lengths": {0: "batch"}, "logits": {0: "batch", 1: "tokens"}})
    variants = {"fp32": {"image": "image_encoder.onnx", "recipe": "recipe_encoder.onnx", "tagger": "tagger.onnx"}}
    if int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        for role in ("image", "recipe"):
            quantize_dynamic(out / f"{role}_encoder.onnx", out / f"{role}_encoder.int8.onnx", weight_type=QuantType.QInt8)
        variants["int8"] = {"image": "image_encoder.int8.onnx", "recipe": "recipe_encoder.int8.onnx", "tagger": "tagger.onnx"}
    files = {str(p.relative_to(out)): sha256_file(p) for p in sorted(out.rglob("*")) if p.is_file()}
    manifest = {
        "schema_version": BUNDLE_SCHEMA,
        "seje_version": "0.1.0",
        "fingerprint": bundle_fingerprint(files),
        "embedding_dim": EMB_DIM,
        "image": {"size": IMAGE_SIZE, "resize": 36, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
        "text": {"max_sentences": 5, "max_tokens": 8, "max_ingredient_tokens": 8, "title_terms": title_terms},
        "ranker": {"name": "tfidf"},
        "category_names": CATEGORIES,
        "files": files,
        "variants": {"onnxruntime": variants, "tensorrt": {"skipped": "no NVIDIA GPU at export time"}},
        "export_env": {"gpu": None},
        "parity": {},
        "verified": True,
    }
    write_json(out / "manifest.json", manifest)
    return out


def make_images(folder: Path, n: int = 6, seed: int = 0) -> list[Path]:
    """Distinct real JPEG/PNG photos-to-be (random colour blocks) on disk."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        arr = np.kron(rng.integers(0, 256, size=(4, 4, 3)), np.ones((12, 12, 1))).astype(np.uint8)
        path = folder / (f"img{i}.jpg" if i % 2 == 0 else f"img{i}.png")
        Image.fromarray(arr).save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def sdk_bundle(tmp_path_factory) -> Path:
    """The small real bundle, built once per session."""
    return make_bundle(tmp_path_factory.mktemp("sdk") / "bundle")


@pytest.fixture(scope="session")
def sdk_images(tmp_path_factory) -> list[Path]:
    return make_images(tmp_path_factory.mktemp("sdk_images"))


@pytest.fixture(scope="session")
def retriever(sdk_bundle):
    from seje_sdk import Retriever

    return Retriever.load(sdk_bundle, backend="onnxruntime")


@pytest.fixture(scope="session")
def titled_bundle(tmp_path_factory) -> Path:
    """The small bundle, marked as one whose model reads titles (features built with title_terms)."""
    return make_bundle(tmp_path_factory.mktemp("sdk_titled") / "bundle", int8=False, title_terms=True)


@pytest.fixture(scope="session")
def titled_retriever(titled_bundle):
    from seje_sdk import Retriever

    return Retriever.load(titled_bundle, backend="onnxruntime")
