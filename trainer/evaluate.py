"""The Recipe1M retrieval protocol: seeded bags of N test pairs, MedR and R@1/5/10 both ways.

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

RECALLS = (1, 5, 10)
DIRECTIONS = ("image_to_recipe", "recipe_to_image")
METRICS = ("medr", "r1", "r5", "r10")


def ranks_of_matches(query: np.ndarray, gallery: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """1-based rank of gallery[i] for query[i] by dot-product similarity (rows L2-normalised).

    Ties are pessimistic: every other item scoring >= the true match is ranked ahead of it, so
    a collapsed model (all scores equal) gets rank N, never a lucky rank 1.
    """
    query = np.asarray(query, dtype=np.float32)
    gallery = np.asarray(gallery, dtype=np.float32)
    if query.shape != gallery.shape or query.ndim != 2:
        raise InputError(f"embeddings must be two (N, D) arrays of the same shape, got {query.shape} and {gallery.shape}")
    ranks = np.empty(len(query), dtype=np.int64)
    for start in range(0, len(query), chunk):
        sims = query[start:start + chunk] @ gallery.T
        rows = np.arange(sims.shape[0])
        own = sims[rows, rows + start][:, None]
        ranks[start:start + chunk] = (sims >= own).sum(axis=1)  # includes the match itself
    return ranks


def _summarise(ranks: np.ndarray) -> dict[str, float]:
    out = {"medr": float(np.median(ranks))}
    for k in RECALLS:
        out[f"r{k}"] = float(100.0 * np.mean(ranks <= k))  # percent, as the Recipe1M papers report
    return out


def rank_metrics(img_emb: np.ndarray, rec_emb: np.ndarray) -> dict[str, dict[str, float]]:
    """MedR and R@1/5/10 (percent) in both directions for aligned pairs (row i <-> row i)."""
    return {
        "image_to_recipe": _summarise(ranks_of_matches(img_emb, rec_emb)),
        "recipe_to_image": _summarise(ranks_of_matches(rec_emb, img_emb)),
    }


def bag_metrics(img: np.ndarray, rec: np.ndarray, bag_size: int, n_bags: int = 10, seed: int = 0,
                verbose: bool = True) -> dict[str, Any]:
    """Mean and std of `rank_metrics` over `n_bags` seeded random bags of `bag_size` pairs.

    The bag size is capped at the number of pairs (small test sets), and the cap is printed.
    """
    n = len(img)
    if n < 2:
        raise InputError(f"need at least 2 pairs to rank, got {n}")
    size = min(bag_size, n)
    if size < bag_size and verbose:
        print(f"bag size {bag_size} capped at the {n} available pairs")
    rng = np.random.default_rng(seed)
    runs = []
    for _ in range(n_bags):
        idx = rng.choice(n, size=size, replace=False)
        runs.append(rank_metrics(img[idx], rec[idx]))
    out: dict[str, Any] = {"bag_size": size, "requested_bag_size": bag_size, "n_bags": n_bags, "seed": seed}
    for direction in DIRECTIONS:
        out[direction] = {
            m: {"mean": float(np.mean([r[direction][m] for r in runs])),
                "std": float(np.std([r[direction][m] for r in runs]))}
            for m in METRICS
        }
    return out


def selection_score(bags: dict[str, Any]) -> float:
    """SEJE's model-selection score: image->recipe R@1 + 0.8 R@5 + 0.6 R@10 (bag means)."""
    i2r = bags["image_to_recipe"]
    return i2r["r1"]["mean"] + 0.8 * i2r["r5"]["mean"] + 0.6 * i2r["r10"]["mean"]


def format_table(results: Sequence[dict[str, Any]]) -> str:
    """A Markdown table of bag results: one row per bag size and direction, mean ± std."""
    lines = ["| N | direction | MedR | R@1 | R@5 | R@10 |", "| ---: | --- | ---: | ---: | ---: | ---: |"]
    for bags in results:
        n = f"{bags['bag_size']}" + ("*" if bags["bag_size"] < bags["requested_bag_size"] else "")
        for direction in DIRECTIONS:
            cells = [f"{bags[direction][m]['mean']:.1f} ± {bags[direction][m]['std']:.1f}" for m in METRICS]
            lines.append(f"| {n} | {direction.replace('_', ' ')} | " + " | ".join(cells) + " |")
    if any(b["bag_size"] < b["requested_bag_size"] for b in results):
        lines.append("\n\\* bag size capped at the test-set size")
    return "\n".join(lines)


# ---- raw inputs -> PyTorch embeddings (reference for export parity and benchmarks) ----

def embed_images_torch(model: Any, paths: Sequence[Any], spec: Any, batch_size: int = 32,
                       show_progress: bool = False) -> np.ndarray:
    """Embeddings (N, D) of images (paths or any seje_sdk.image input) through model.image_encoder."""
    import torch
    from tqdm import tqdm

    from seje_sdk.image import preprocess

    encoder = model.image_encoder if hasattr(model, "image_encoder") else model
    out = []
    with torch.inference_mode():
        for start in tqdm(range(0, len(paths), batch_size), desc="embed images", disable=not show_progress):
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
    from seje_sdk.text import encode_sentences, split_sentences

    sentences = [split_sentences(list(_field(r, "instructions"))) for r in recipes]
    tokens, lengths = encode_sentences(sentences, store.vocab, int(store.config["max_sentences"]),
                                       int(store.config["max_tokens"]))
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
    from seje_sdk.text import RecipeText
    from trainer.features.tagger import load_tagger

    if features_dir is None:
        raise InputError("recipes not in the FeatureStore need features_dir to compute their term features")
    tagger = load_tagger(features_dir)

    def tagger_fn(tokens: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return tagger(torch.from_numpy(tokens), torch.from_numpy(lengths)).numpy()

    texts = [RecipeText.from_any(r if isinstance(r, dict) else {
        "title": r.title, "ingredients": list(r.ingredients), "instructions": list(r.instructions)},
        where=f"recipe {i}") for i, r in enumerate(recipes)]
    ranker = store.config.get("ranker", "tfidf")
    return term_features(texts, TermTables.load(features_dir), tagger_fn, ranker=ranker)


def embed_recipes_torch(model: Any, recipes: Sequence[Any], store: Any, batch_size: int = 64,
                        features_dir: str | Path | None = None, show_progress: bool = False) -> np.ndarray:
    """Embeddings (N, D) of recipes through model.recipe_encoder's full graph (tokens -> embedding)."""
    import torch
    from tqdm import tqdm

    encoder = model.recipe_encoder if hasattr(model, "recipe_encoder") else model
    out = []
    with torch.inference_mode():
        for start in tqdm(range(0, len(recipes), batch_size), desc="embed recipes", disable=not show_progress):
            tokens, lengths, terms = recipe_inputs(recipes[start:start + batch_size], store, features_dir)
            out.append(encoder(torch.from_numpy(tokens), torch.from_numpy(lengths), torch.from_numpy(terms)).numpy())
    return np.concatenate(out) if out else np.zeros((0, model.embed_dim), np.float32)


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
    # Bag sizes that cap to the same N (small test sets) would repeat one row: keep the first.
    capped = list(dict.fromkeys(min(n, len(test)) for n in bag_sizes))
    requested = {c: max(n for n in bag_sizes if min(n, len(test)) == c) for c in capped}
    results = [bag_metrics(img, rec, requested[c], n_bags, seed, verbose) for c in capped]
    # SEJE's MedR curve for growing N, where the test set is large enough.
    curve = {n: bag_metrics(img, rec, n, n_bags, seed, False)["image_to_recipe"]["medr"]["mean"]
             for n in (10000, 20000, 30000, 40000, 50000) if n <= len(test)}
    report = {"run_dir": str(run_dir), "checkpoint": which, "data_dir": str(data_dir), "n_test": len(test),
              "bags": results, "medr_curve": {str(k): v for k, v in curve.items()}}
    write_json(run_dir / "eval.json", report)
    if verbose:
        print(format_table(results))
    return report
