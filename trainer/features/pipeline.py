"""`build_features`: run every Phase 1 step on a Recipe1M-layout folder and write FEATURES_DIR atomically.

Order: labels -> word2vec -> IDF + lexicon -> tagger -> term features (through seje_sdk.terms, as
the SDK computes them) -> sentence vectors (skip-instructions, or MiniLM) -> category classifier -> probes -> manifest.
A rerun with the same inputs and config reuses the folder; otherwise it says what changed.
"""
from __future__ import annotations

import dataclasses
import json
import math
import platform
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from seje_sdk.errors import DataError, InputError
from seje_sdk.io import atomic_dir, save_npy, sha256_file, write_json
from seje_sdk.subwords import SubwordTable
from seje_sdk.terms import TermTables, batch_key_terms, phrase_table, recipe_tokens, term_features
from seje_sdk.text import SPECIALS, RecipeText, Vocab, clean_ingredient_name

from trainer.data.classes import write_classes
from trainer.data.validate import check_dataset
from trainer.features import categories, lexicon, minilm, skip_instructions, tagger, word2vec
from trainer.features.config import FeatureConfig, resolve_config
from trainer.features.labels import category_labels
from trainer.features.probes import ranker_disagreement, linear_probe
from trainer.features.report import print_summary
from trainer.features.store import LOGITS_FILE, SCHEMA, data_fingerprint, explain_changes

TERM_BATCH = 256


def as_text(r) -> RecipeText:
    """A trainer Recipe record as the SDK's RecipeText."""
    return RecipeText(title=r.title or "", ingredients=tuple(r.ingredients), instructions=tuple(r.instructions))


def training_entities(recipes: Sequence) -> frozenset[str]:
    """The entity set: cleaned det_ingrs names of valid training ingredients ("red_wine")."""
    return frozenset(
        name for r in recipes for det, ok in zip(r.det_ingredients or [], r.det_valid or [])
        if ok and (name := clean_ingredient_name(det or ""))
    )


def idf_table(docs: Sequence[Sequence[str]], vocab: Vocab) -> np.ndarray:
    """Smoothed IDF per vocab row, log((1+N)/(1+df)) + 1 (scikit-learn's formula); specials 0."""
    df = Counter(t for doc in docs for t in set(doc))
    idf = np.array([math.log((1 + len(docs)) / (1 + df[t])) + 1.0 for t in vocab.tokens], dtype=np.float32)
    idf[: len(SPECIALS)] = 0.0
    return idf


def _library_versions() -> dict[str, str]:
    import gensim
    import sklearn
    import torchvision

    import seje_sdk

    return {"python": platform.python_version(), "torch": torch.__version__, "torchvision": torchvision.__version__,
            "gensim": gensim.__version__, "scikit-learn": sklearn.__version__, "numpy": np.__version__,
            "seje": getattr(seje_sdk, "__version__", "0")}


def build_features(
    data_dir: str | Path, out_dir: str | Path, preset: str = "cpu", overrides: dict[str, Any] | None = None,
    skip_bad: bool = False, check: bool = True,
) -> Path:
    """Build (or reuse) FEATURES_DIR from a Recipe1M-layout folder; returns its path.

    skip_bad: count and report malformed records (they get no features) instead of failing.
    check: run the dataset check first (False when the caller, e.g. the CLI, already did).
    """
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    cfg = resolve_config(preset, overrides)
    requested = cfg.to_dict()  # what was asked; `config` in the manifest is what ran (--w2v sets word_dim)
    for key in ("w2v_file", "backbone_weights"):  # files named by the config are inputs too
        if requested[key] and Path(requested[key]).is_file():
            requested[f"{key}_sha256"] = sha256_file(requested[key])
    fingerprint = data_fingerprint(data_dir)
    manifest_path = out_dir / "manifest.json"
    if manifest_path.is_file():
        old = json.loads(manifest_path.read_text(encoding="utf-8"))
        reasons = explain_changes(old, requested, fingerprint)
        if LOGITS_FILE not in old.get("files", {}):  # folders written before the soft category feature
            reasons.append(f"{LOGITS_FILE} (the soft category feature's input) is missing")
        if not reasons and all((out_dir / n).is_file() for n in old.get("files", {})):
            print(f"features: reusing {out_dir} (same inputs and config)")
            return out_dir
        print(f"features: rebuilding {out_dir} because " + "; ".join(reasons or ["files are missing"]))
    elif out_dir.exists() and any(out_dir.iterdir()):
        # atomic_dir replaces the folder: never let a typo in --out wipe unrelated files.
        raise InputError(f"--out {out_dir} exists and is not a FEATURES_DIR (no manifest.json); choose an empty or new folder")
    if check:
        print(check_dataset(data_dir, "features").summary())  # seconds, before minutes of training
    start = time.time()
    with atomic_dir(out_dir) as tmp:
        metrics, cfg = _build(data_dir, tmp, cfg, skip_bad)
        metrics["seconds"] = round(time.time() - start, 1)
        files = {p.relative_to(tmp).as_posix(): sha256_file(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        write_json(tmp / "manifest.json", {
            "schema": SCHEMA, "seje_version": _library_versions()["seje"], "preset": preset, "config": cfg.to_dict(), "requested_config": requested,
            "seed": cfg.seed, "libraries": _library_versions(), "data_dir": str(data_dir.resolve()),
            "data_fingerprint": fingerprint, "metrics": metrics, "files": files,
        })
    print_summary(metrics)
    return out_dir


def _read_recipes(data_dir: Path, skip_bad: bool = False, m: dict | None = None) -> list:
    from trainer.data.recipe1m import SkipReport, iter_recipes

    report = SkipReport()
    recipes = list(iter_recipes(data_dir, partitions=("train", "val", "test"), skip_bad=skip_bad, report=report))
    if m is not None:
        m["skipped_records"] = {"total": report.total, "reasons": dict(report.counts), "examples": report.examples}
    if not any(r.partition == "train" for r in recipes):
        raise DataError(f"{data_dir}: no training recipes in layer1.json; features are learned from the train partition")
    return recipes


@contextmanager
def _stage(metrics: dict, name: str):
    """Record a stage's wall time in metrics["stage_seconds"]."""
    start = time.time()
    yield
    metrics.setdefault("stage_seconds", {})[name] = round(time.time() - start, 1)


def _build(data_dir: Path, out: Path, cfg: FeatureConfig, skip_bad: bool) -> tuple[dict[str, Any], FeatureConfig]:
    m: dict[str, Any] = {}
    with _stage(m, "read"):
        recipes = _read_recipes(data_dir, skip_bad, m)
        train = [r for r in recipes if r.partition == "train"]
        texts = [as_text(r) for r in recipes]
        m["recipes"] = {p: sum(r.partition == p for r in recipes) for p in ("train", "val", "test")}
    with _stage(m, "labels"):  # first: the probes and the classifier need them
        class_of, names, source = category_labels(data_dir, recipes, cfg.bigram_classes, cfg.bigram_min_count)
        write_classes(out / "classes1M.pkl", class_of, names)
        write_json(out / "category_names.json", [names.get(i, "") for i in range(max(names) + 1)])
        m["categories"] = {"source": source, "classes": len(names)}
    entities = training_entities(train)
    phrases = phrase_table(entities)
    with _stage(m, "word2vec"):
        vocab, vectors, cfg = _word2vec(train, phrases, cfg, out)
        common = Counter(e for r in train for e in map(clean_ingredient_name, r.det_ingredients or []) if e in vocab)
        m["word2vec"] = {"vocab": len(vocab), "dim": int(vectors.shape[1]), "entities": len(entities),
                         "neighbours": {w: word2vec.neighbours(vocab, vectors, w) for w, _ in common.most_common(4)}}
    with _stage(m, "idf+lexicon"):
        idf = idf_table([recipe_tokens(as_text(r), phrases) for r in train], vocab)
        save_npy(out / "idf.npy", idf)
        lex = lexicon.learn_lexicon((r.instructions for r in train), entities, phrases, cfg.lexicon_min_count, cfg.lexicon_min_ratio)
        write_json(out / "lexicon.json", lex)
        write_json(out / "entities.json", sorted(entities))
        tables = TermTables(vocab, vectors, idf, entities, frozenset(lex["actions"]), frozenset(lex["utensils"]),
                            subwords=SubwordTable.load(out))
        m["lexicon"] = {"actions": len(lex["actions"]), "utensils": len(lex["utensils"]),
                        "top_actions": lex["actions"][:6], "top_utensils": lex["utensils"][:6]}
    with _stage(m, "tagger"):  # evaluated on val next to the dictionary baseline
        tag_model = tagger.train_tagger(tagger.labelled_lines(train), vocab, vectors, cfg)
        tagger.save_tagger(tag_model, out / "tagger.pt")
        val_lines = tagger.labelled_lines((r for r in recipes if r.partition == "val"), every_line=True)
        m["tagger"] = tagger.evaluate_tagger(tag_model, val_lines, tables)
    with _stage(m, "term features"):
        feats = _term_features(recipes, texts, tables, tagger.torch_tagger_fn(tag_model), cfg, out, m)
    with _stage(m, "sentence vectors" if cfg.sentence_encoder == "minilm" else "skip-instructions"):
        sent, offsets = _sentence_vectors(recipes, train, texts, vocab, vectors, cfg, out, m)
        save_npy(out / "sentence_vectors.npy", sent)
        save_npy(out / "sentence_offsets.npy", offsets)
        write_json(out / "recipes.json", {"ids": [r.id for r in recipes], "partition": [r.partition for r in recipes]})
    with _stage(m, "category classifier"):
        m["classifier"], image_cat, image_probe = _categories(recipes, class_of, names, vocab, vectors, cfg, out)
        write_json(out / "image_categories.json", image_cat)  # image_category_logits.npy: rows in its sorted id order
    # Linear probes: does each semantic feature alone predict the category?
    labels = np.array([class_of.get(r.id, 0) for r in recipes])
    part = np.array([r.partition for r in recipes])
    tr, va = part == "train", part == "val"
    m["probes"] = {"term_feature": linear_probe(feats[tr], labels[tr], feats[va], labels[va], cfg.seed),
                   "image_category_feature": image_probe}
    return m, cfg


def _sentence_vectors(recipes, train, texts, vocab, vectors, cfg: FeatureConfig, out: Path, m: dict
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Every recipe's sentence vectors and offsets: pretrained MiniLM, or skip-instructions trained here."""
    if cfg.sentence_encoder == "minilm":
        sent, offsets, mm = minilm.encode_recipes(texts, cfg.to_dict())
        m["minilm"] = {**mm, "vectors": int(len(sent)), "dim": int(sent.shape[1])}
        return sent, offsets
    encoder, sk = skip_instructions.train_skip_instructions([r.instructions for r in train], vocab, vectors, cfg)
    skip_instructions.save_sentence_encoder(encoder, out / "skip_instructions.pt")
    sent, offsets = skip_instructions.encode_recipes(encoder, [r.instructions for r in recipes], vocab, cfg)
    m["skip_instructions"] = {**sk, "sentences": int(len(sent)), "dim": int(sent.shape[1])}
    return sent, offsets


def _word2vec(train, phrases, cfg: FeatureConfig, out: Path) -> tuple[Vocab, np.ndarray, FeatureConfig]:
    """Train skip-gram on the training text (entity phrases joined), or load --w2v FILE; write the tables."""
    if cfg.w2v_file:
        kv = word2vec.load_word2vec_file(cfg.w2v_file)
        cfg = dataclasses.replace(cfg, word_dim=kv.vector_size)  # the file decides the width
        kv.save(str(out / "word2vec.model"))
    else:
        model = word2vec.train_word2vec(word2vec.build_corpus((as_text(r) for r in train), phrases), cfg)
        model.save(str(out / "word2vec.model"))
        kv = model.wv
        if cfg.word_vectors == "fasttext":
            word2vec.save_subwords(kv, out)
    vocab, vectors = word2vec.word2vec_tables(kv)
    write_json(out / "vocab.json", vocab.to_dict())
    save_npy(out / "word2vec.npy", vectors)
    return vocab, vectors, cfg


def _term_features(recipes, texts, tables: TermTables, tagger_fn, cfg: FeatureConfig, out: Path, m: dict) -> np.ndarray:
    """Weighted term features through seje_sdk.terms, exactly as the SDK computes them (it swaps in the ONNX tagger)."""
    bert_fn = None
    if cfg.ranker == "bert":
        from trainer.features.rankers import bert_fn_from

        bert_fn = bert_fn_from(cfg.bert_model)
    feats = np.concatenate([
        term_features(texts[i : i + TERM_BATCH], tables, tagger_fn, cfg.ranker, bert_fn, cfg.title_terms)
        for i in _progress(range(0, len(texts), TERM_BATCH), "term features")
    ])
    save_npy(out / "term_features.npy", feats)
    no_terms = [r.id for r, f in zip(recipes, feats) if not f.any()]
    m["term_features"] = {"ranker": cfg.ranker, "recipes_without_key_terms": len(no_terms), "examples": no_terms[:5]}
    sample = [t for t, r in zip(texts, recipes) if r.partition == "val"][: cfg.ranker_sample]
    m["rankers"] = ranker_disagreement(sample, batch_key_terms(sample, tables, tagger_fn, cfg.title_terms), tables, cfg)
    return feats


def _categories(recipes, class_of, names, vocab, vectors, cfg, out) -> tuple[dict, dict[str, int], dict]:
    """Train the classifier, predict every image, save category vectors; returns metrics, predictions, probe."""
    cat_vectors = categories.category_vectors(names, vocab, vectors)
    save_npy(out / "category_vectors.npy", cat_vectors)
    images = {
        part: categories.load_images(
            [(iid, path, class_of.get(r.id, 0), r.id) for r in recipes if r.partition == part
             for iid, path in zip(r.image_ids, r.image_paths)], cfg.image_size, f"{part} images")
        for part in ("train", "val", "test")
    }
    model, logits = categories.train_classifier(images, max(names) + 1, cfg)
    categories.save_classifier(model, cfg.image_size, out / "category_classifier.pt")
    pred = {part: (lg.argmax(1) if len(lg) else torch.zeros(0, dtype=torch.long)) for part, lg in logits.items()}
    predictions = {iid: int(c) for part, s in images.items() for iid, c in zip(s.ids, pred[part].tolist())}
    # The soft category feature (softmax of these logits) needs the same out-of-fold numbers.
    rows = {iid: row for part, s in images.items() for iid, row in zip(s.ids, logits[part])}
    save_npy(out / LOGITS_FILE, np.stack([rows[i].numpy() for i in sorted(rows)]).astype(np.float32)
             if rows else np.zeros((0, max(names) + 1), dtype=np.float32))
    skipped = [msg for s in images.values() for msg in s.skipped]
    metrics = {"train_images": len(images["train"].ids), "val_images": len(images["val"].ids),
               "skipped_images": len(skipped), "skipped_examples": skipped[:5],
               **{f"val_{k}": v for k, v in categories.topk_accuracy(logits["val"], images["val"].labels).items()},
               # what Phase 2 trains on: out-of-fold unless category_folds < 2
               "train_folds": cfg.category_folds,
               **{f"train_{k}": v for k, v in categories.topk_accuracy(logits["train"], images["train"].labels).items()}}
    # The image category feature is the predicted class's vector; probe it like the term feature.
    probe = linear_probe(cat_vectors[pred["train"].numpy()], images["train"].labels.numpy(),
                         cat_vectors[pred["val"].numpy()], images["val"].labels.numpy(), cfg.seed)
    return metrics, predictions, probe


def _progress(it, desc: str):
    from seje_sdk.progress import progress_bar

    return progress_bar(it, desc=desc, leave=False)
