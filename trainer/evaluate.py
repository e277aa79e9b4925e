"""The Recipe1M retrieval protocol: seeded bags of N test pairs, MedR and R@1/5/10 both ways.

A test set not larger than a bag is evaluated once in full (bags would only reorder it). Scores
are float64 and ties (within TIE_TOLERANCE) count in the match's favour, as in SEJE's test.py
and image-to-recipe-transformers' eval.py; the pessimistic rule and the tie count are reported
beside it, with chance and the category-only oracle (trainer/references.py).

`rank_metrics` and `bag_metrics` are pure numpy so the benchmarks reuse them on SDK embeddings;
`embed_images_torch` / `embed_recipes_torch` go from raw inputs to PyTorch embeddings (the
reference for export parity); `evaluate_run` ties them together for `seje-train eval`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from seje_sdk.errors import InputError
from seje_sdk.io import write_json
from trainer.references import (explanation_line, near_duplicate_report, near_duplicate_warnings, recipe_words,
                                reference_metrics)

RECALLS = (1, 5, 10)
DIRECTIONS = ("image_to_recipe", "recipe_to_image")
METRICS = ("medr", "r1", "r5", "r10")
# Two scores closer than this are a tie. Scores are computed in float64, so summation-order noise
# (~1e-15) never crosses it: ranks do not depend on where a pair sits in the matrix or the bag.
TIE_TOLERANCE = 1e-6
TIE_RULES = ("favour", "against")
TIE_RULE_NOTE = ("ties count in the match's favour, as in SEJE's test.py and image-to-recipe-transformers' "
                 "eval.py; model selection and the 'ties against' row count them against it")


def match_counts(query: np.ndarray, gallery: np.ndarray, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Per query i: (items scoring above gallery[i] by more than TIE_TOLERANCE, other items tied with it).

    Dot products in float64 (rows L2-normalised). The two counts give the rank under either
    tie rule without depending on row order: best case 1 + better, worst case 1 + better + tied.
    """
    query = np.asarray(query, dtype=np.float32)
    gallery = np.asarray(gallery, dtype=np.float32)
    if query.shape != gallery.shape or query.ndim != 2:
        raise InputError(f"embeddings must be two (N, D) arrays of the same shape, got {query.shape} and {gallery.shape}")
    g = gallery.astype(np.float64)
    better = np.empty(len(query), dtype=np.int64)
    tied = np.empty(len(query), dtype=np.int64)
    for start in range(0, len(query), chunk):
        sims = query[start:start + chunk].astype(np.float64) @ g.T
        rows = np.arange(sims.shape[0])
        own = sims[rows, rows + start][:, None]
        better[start:start + chunk] = (sims > own + TIE_TOLERANCE).sum(axis=1)
        tied[start:start + chunk] = (np.abs(sims - own) <= TIE_TOLERANCE).sum(axis=1) - 1  # not the match itself
    return better, tied


def ranks_of_matches(query: np.ndarray, gallery: np.ndarray, ties: str = "favour") -> np.ndarray:
    """1-based rank of gallery[i] for query[i] by dot-product similarity (rows L2-normalised).

    ties="favour" (the references' rule): only items scoring strictly higher rank ahead of the
    match. ties="against": tied items rank ahead too, so a collapsed model gets rank N.
    """
    if ties not in TIE_RULES:
        raise InputError(f"ties must be one of {TIE_RULES}, got {ties!r}")
    better, tied = match_counts(query, gallery)
    return 1 + better + (tied if ties == "against" else 0)


def summarise_ranks(ranks: np.ndarray) -> dict[str, float]:
    """MedR and R@1/5/10 (percent, as the Recipe1M papers report) of 1-based ranks."""
    out = {"medr": float(np.median(ranks))}
    for k in RECALLS:
        out[f"r{k}"] = float(100.0 * np.mean(ranks <= k))
    return out


def rank_metrics(img_emb: np.ndarray, rec_emb: np.ndarray, ties: str = "favour") -> dict[str, dict[str, float]]:
    """MedR and R@1/5/10 (percent) in both directions for aligned pairs (row i <-> row i)."""
    return {
        "image_to_recipe": summarise_ranks(ranks_of_matches(img_emb, rec_emb, ties)),
        "recipe_to_image": summarise_ranks(ranks_of_matches(rec_emb, img_emb, ties)),
    }


def _score_bag(img: np.ndarray, rec: np.ndarray) -> dict[str, Any]:
    """Metrics of one bag under both tie rules, and how many queries had a tie with their match."""
    out: dict[str, Any] = {"favour": {}, "against": {}, "tied_queries": {}}
    for direction, (q, g) in zip(DIRECTIONS, ((img, rec), (rec, img))):
        better, tied = match_counts(q, g)
        out["favour"][direction] = summarise_ranks(1 + better)
        out["against"][direction] = summarise_ranks(1 + better + tied)
        out["tied_queries"][direction] = int((tied > 0).sum())
    return out


def _aggregate(values: list[float], full_set: bool) -> dict[str, float]:
    """{"mean", "std"} over bags; the full set evaluated once has a value and no spread."""
    if full_set:
        return {"mean": float(values[0])}
    return {"mean": float(np.mean(values)), "std": float(np.std(values))}


def draw_bags(n: int, bag_size: int, n_bags: int, rng: np.random.Generator) -> list[np.ndarray]:
    """`n_bags` random bags of `bag_size` distinct row indices out of `n` (the Recipe1M protocol's 1k/10k bags)."""
    return [rng.choice(n, size=bag_size, replace=False) for _ in range(n_bags)]


def bag_metrics(img: np.ndarray, rec: np.ndarray, bag_size: int, n_bags: int = 10, seed: int = 0,
                labels: np.ndarray | None = None) -> dict[str, Any]:
    """MedR and R@1/5/10 over `n_bags` seeded random bags of `bag_size` pairs (mean and std).

    When the set is not larger than a bag, it is evaluated once in full (bags would only reorder
    the same pairs). Ties count in the match's favour; `ties_against` holds the other rule and
    `tied_queries` how many queries per bag (mean) had a tie. With `labels` (category per pair),
    `references` holds chance and the category-only oracle on the same bags.
    """
    n = len(img)
    if n < 2:
        raise InputError(f"need at least 2 pairs to rank, got {n}")
    full_set = n <= bag_size
    if full_set:
        bags = [np.arange(n)]
    else:
        bags = draw_bags(n, bag_size, n_bags, np.random.default_rng(seed))
    runs = [_score_bag(img[idx], rec[idx]) for idx in bags]
    out: dict[str, Any] = {"bag_size": min(bag_size, n), "requested_bag_size": bag_size, "n_bags": len(bags),
                           "seed": seed, "full_set": full_set, "tie_rule": TIE_RULE_NOTE, "tie_tolerance": TIE_TOLERANCE}
    for direction in DIRECTIONS:
        out[direction] = {m: _aggregate([r["favour"][direction][m] for r in runs], full_set) for m in METRICS}
    out["ties_against"] = {d: {m: _aggregate([r["against"][d][m] for r in runs], full_set) for m in METRICS}
                           for d in DIRECTIONS}
    out["tied_queries"] = {d: float(np.mean([r["tied_queries"][d] for r in runs])) for d in DIRECTIONS}
    if labels is not None:
        out["references"] = reference_metrics([np.asarray(labels)[idx] for idx in bags], seed)
    return out


def describe_plan(n_pairs: int, bag_sizes: Sequence[int], n_bags: int) -> str:
    """One line saying what `bag_metrics` will evaluate for each requested bag size, in order."""
    parts, full = [], [n for n in bag_sizes if n >= n_pairs]
    for n in dict.fromkeys(min(n, n_pairs) for n in bag_sizes):
        if n < n_pairs:
            parts.append(f"{n_bags} seeded bags of {n} (mean ± std)")
        else:
            why = ", ".join(f"bag size {b}" for b in full)
            parts.append(f"the full set once ({why} >= {n_pairs} pairs: no bags, no spread)")
    return f"{n_pairs} test pairs: " + "; ".join(parts)


def selection_score(bags: dict[str, Any]) -> float:
    """SEJE's model-selection score: image->recipe R@1 + 0.8 R@5 + 0.6 R@10 (bag means).

    Ties count against the match here, so a collapsed model (every score equal) never looks best.
    """
    i2r = bags.get("ties_against", bags)["image_to_recipe"]
    return i2r["r1"]["mean"] + 0.8 * i2r["r5"]["mean"] + 0.6 * i2r["r10"]["mean"]


def _cell(value: dict[str, float]) -> str:
    """Display rounding only: one decimal, ± std where there were real bags."""
    return f"{value['mean']:.1f}" + (f" ± {value['std']:.1f}" if "std" in value else "")


def format_table(results: Sequence[dict[str, Any]]) -> str:
    """A Markdown table per bag size and direction: the model, its ties-against row, and the references."""
    lines = ["| N | direction | ranker | MedR | R@1 | R@5 | R@10 |",
             "| ---: | --- | --- | ---: | ---: | ---: | ---: |"]
    for bags in results:
        n = f"{bags['bag_size']}" + (" (full set)" if bags.get("full_set") else f" x {bags['n_bags']}")
        for direction in DIRECTIONS:
            rows = [("model", bags[direction])]
            if bags.get("tied_queries", {}).get(direction):
                rows.append((f"model, ties against ({bags['tied_queries'][direction]:g} tied queries)",
                             bags["ties_against"][direction]))
            for name, ref in bags.get("references", {}).items():
                rows.append((name.replace("_", "-"), {m: {"mean": v} for m, v in ref[direction].items()}))
            for name, values in rows:
                cells = [_cell(values[m]) for m in METRICS]
                lines.append(f"| {n} | {direction.replace('_', ' ')} | {name} | " + " | ".join(cells) + " |")
    lines.append(f"\nTies: {TIE_RULE_NOTE}.")
    return "\n".join(lines)


# ---- raw inputs -> PyTorch embeddings (reference for export parity and benchmarks) ----

def embed_images_torch(model: Any, paths: Sequence[Any], spec: Any, batch_size: int = 32,
                       show_progress: bool = False) -> np.ndarray:
    """Embeddings (N, D) of images (paths or any seje_sdk.image input) through model.image_encoder."""
    import torch
    from seje_sdk.progress import progress_bar

    from seje_sdk.image import preprocess

    encoder = model.image_encoder if hasattr(model, "image_encoder") else model
    out = []
    with torch.inference_mode():
        for start in progress_bar(range(0, len(paths), batch_size), desc="embed images", disable=not show_progress):
            batch = paths[start:start + batch_size]
            pixels = np.stack([preprocess(p, spec, where=f"image {start + i}") for i, p in enumerate(batch)])
            out.append(encoder(torch.from_numpy(pixels))[0].numpy())
    dim = model.embed_dim if hasattr(model, "embed_dim") else 0
    return np.concatenate(out) if out else np.zeros((0, dim), np.float32)


def recipe_inputs(recipes: Sequence[Any], store: Any, features_dir: str | Path | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Model inputs (sentence_tokens, sentence_lengths, term_feature) for Recipe records or layer1 dicts.

    Recipes known to the FeatureStore use its stored term feature; others are computed with
    seje_sdk.terms and the Phase 1 tagger (what the SDK does), which needs `features_dir`.
    """
    tokens, lengths = sentence_inputs(recipes, store)
    terms = np.zeros((len(recipes), store.term_features.shape[1]), dtype=np.float32)
    missing = []
    for i, r in enumerate(recipes):
        rid = _field(r, "id", None)
        row = _store_row(store, rid)
        if row is None:
            missing.append(i)
        else:
            terms[i] = store.term_features[row]
    if missing:
        terms[missing] = _compute_term_features([recipes[i] for i in missing], store, features_dir)
    return tokens, lengths, terms


def sentence_inputs(recipes: Sequence[Any], store: Any) -> tuple[np.ndarray, np.ndarray]:
    """sentence_tokens and sentence_lengths: vocabulary ids (skip-instructions) or MiniLM word-piece slots."""
    from seje_sdk.text import RecipeText, encode_sentences, split_sentences

    if store.config.get("sentence_encoder", "skip") == "minilm":
        from seje_sdk.sentences import SlotEncoder
        from trainer.features.minilm import load_sentence_tokenizer, slot_count

        fields, max_sentences = slot_count(store.config)
        texts = [RecipeText(title=_field(r, "title", "") or "", ingredients=tuple(_field(r, "ingredients")),
                            instructions=tuple(_field(r, "instructions"))) for r in recipes]
        return SlotEncoder(load_sentence_tokenizer(store.config), fields, max_sentences)(texts)
    sentences = [split_sentences(list(_field(r, "instructions"))) for r in recipes]
    return encode_sentences(sentences, store.vocab, int(store.config["max_sentences"]), int(store.config["max_tokens"]))


def _store_row(store: Any, recipe_id: str | None) -> int | None:
    from seje_sdk.errors import DataError

    if recipe_id is None:
        return None
    try:
        return store.index_of(recipe_id)
    except DataError:
        return None


def _field(recipe: Any, name: str, default: Any = ()) -> Any:
    if isinstance(recipe, dict):
        value = recipe.get(name, default)
        if name == "instructions":
            value = [v.get("text", "") if isinstance(v, dict) else v for v in value]
        return value
    return getattr(recipe, name, default)


def _compute_term_features(recipes: Sequence[Any], store: Any, features_dir: str | Path | None) -> np.ndarray:
    import torch

    from seje_sdk.terms import TermTables, term_features
    from seje_sdk.recipe import validate_recipe
    from trainer.features.tagger import load_tagger

    if features_dir is None:
        raise InputError("recipes not in the FeatureStore need features_dir to compute their term features")
    tagger = load_tagger(features_dir)

    def tagger_fn(tokens: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return tagger(torch.from_numpy(tokens), torch.from_numpy(lengths)).numpy()

    texts = [validate_recipe(r if isinstance(r, dict) else {
        "title": r.title, "ingredients": list(r.ingredients), "instructions": list(r.instructions)},
        where=f"recipe {i}") for i, r in enumerate(recipes)]
    ranker = store.config.get("ranker", "tfidf")
    title_terms = bool(store.config.get("title_terms", False))  # features built before the option had none
    return term_features(texts, TermTables.load(features_dir), tagger_fn, ranker=ranker, title_terms=title_terms)


def embed_recipes_torch(model: Any, recipes: Sequence[Any], store: Any, batch_size: int = 64,
                        features_dir: str | Path | None = None, show_progress: bool = False) -> np.ndarray:
    """Embeddings (N, D) of recipes through model.recipe_encoder's full graph (tokens -> embedding)."""
    import torch
    from seje_sdk.progress import progress_bar

    encoder = model.recipe_encoder if hasattr(model, "recipe_encoder") else model
    out = []
    with torch.inference_mode():
        for start in progress_bar(range(0, len(recipes), batch_size), desc="embed recipes", disable=not show_progress):
            out.append(encode_recipe_batch(encoder, *recipe_inputs(recipes[start:start + batch_size], store, features_dir)))
    return np.concatenate(out) if out else np.zeros((0, model.embed_dim), np.float32)


def encode_recipe_batch(encoder: Any, tokens: np.ndarray, lengths: np.ndarray, terms: np.ndarray) -> np.ndarray:
    """One batch of recipe-graph inputs through the PyTorch recipe encoder, in inference mode."""
    import torch

    with torch.inference_mode():
        return encoder(torch.from_numpy(tokens), torch.from_numpy(lengths), torch.from_numpy(terms)).numpy()


def evaluate_run(run_dir: str | Path, data_dir: str | Path | None = None, bag_sizes: Sequence[int] = (1000, 10000),
                 n_bags: int = 10, seed: int = 0, which: str = "best", verbose: bool = True) -> dict[str, Any]:
    """Embed the test split with the run's model, score seeded bags, write RUN_DIR/eval.json."""
    from seje_sdk.image import ImageSpec
    from trainer.data.recipe1m import read_split
    from trainer.features.store import FeatureStore
    from trainer.model import load_run

    run_dir = Path(run_dir)
    model, config = load_run(run_dir, which)
    data_dir = Path(data_dir or config["data_dir"])
    store = FeatureStore.load(config["features_dir"])
    test = read_split(data_dir, "test", require_images=True)
    if len(test) < 2:
        raise InputError(f"{data_dir}: the test split has {len(test)} recipes with images; need at least 2")
    spec = ImageSpec.for_size(int(config["resolved_image_size"]))
    img = embed_images_torch(model, [r.image_paths[0] for r in test], spec, show_progress=verbose)
    rec = embed_recipes_torch(model, test, store, features_dir=config["features_dir"], show_progress=verbose)
    labels = None
    if all(r.class_id is not None for r in test):
        labels = np.array([r.class_id for r in test], dtype=np.int64)
    elif verbose:
        print(f"{data_dir}: no category labels (classes1M.pkl) for every test recipe: no category-oracle row")
    # Bag sizes not smaller than the test set all mean "the full set once": keep one of them.
    sizes = list(dict.fromkeys(n if n < len(test) else len(test) for n in bag_sizes))
    requested = {s: max(n for n in bag_sizes if min(n, len(test)) == s) for s in sizes}
    if verbose:
        print(describe_plan(len(test), bag_sizes, n_bags))
    results = [bag_metrics(img, rec, requested[s], n_bags, seed, labels) for s in sizes]
    # SEJE's MedR curve for growing N, where the test set is large enough.
    curve = {n: bag_metrics(img, rec, n, n_bags, seed)["image_to_recipe"]["medr"]["mean"]
             for n in (10000, 20000, 30000, 40000, 50000) if n <= len(test)}
    duplicates = near_duplicate_report(img, rec, [recipe_words(r) for r in test], store.vocab)
    report = {"run_dir": str(run_dir), "checkpoint": which, "data_dir": str(data_dir), "n_test": len(test),
              "bags": results, "medr_curve": {str(k): v for k, v in curve.items()}, "near_duplicates": duplicates}
    write_json(run_dir / "eval.json", report)
    if verbose:
        print(format_table(results))
        print(f"near-duplicate vectors (cosine > {duplicates['cosine_above']}): "
              f"recipes {duplicates['recipe']:.1%}, images {duplicates['image']:.1%} of {len(test)} test items")
        warnings = near_duplicate_warnings(duplicates, "test")
        for line in warnings:
            print(line)
        if not warnings and duplicates["recipe"] > 0:
            print(explanation_line(duplicates["recipe_explained"]))
    return report
