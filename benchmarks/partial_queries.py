"""Partial-recipe and typed-text queries: image retrieval (recipe -> photo) per query form, per run,
on the same seeded test bags, beside chance and the category-only oracle.

    python -m benchmarks.partial_queries RUN_DIR [RUN_DIR ...] --out benchmarks/results/partial_queries

Forms: the full recipe, title only, ingredients only, instructions only, and "text" (the title also
given as an ingredient line: typed words read as title plus ingredients). Each partial recipe goes
through the SDK's own preprocessing (seje_sdk.terms with the run's tagger) and the run's PyTorch
recipe encoder, exactly as the exported graph would see it. A form that leaves a model nothing to
read (a title for a model without title terms) gives one vector for every query: its rows count
ties against the match (the "favour" rule would rank every match first).
"""
from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import click
import numpy as np

from benchmarks.report import write_json_and_markdown

FORMS = ("full", "title", "ingredients", "instructions", "title_ingredients", "text")
METRICS = ("medr", "r1", "r10")


def form_recipe(recipe: Any, form: str) -> Any:
    """The query a form makes of a test recipe (a RecipeText)."""
    from seje_sdk.text import RecipeText
    from trainer.field_dropout import FULL, INGREDIENTS, INSTRUCTIONS, TITLE, keep_fields

    if form == "text":
        return RecipeText(title=recipe.title, ingredients=(recipe.title,))
    mask = {"full": FULL, "title": TITLE, "ingredients": INGREDIENTS, "instructions": INSTRUCTIONS,
            "title_ingredients": TITLE | INGREDIENTS}[form]
    return keep_fields(recipe, mask)


def form_text(recipe: Any, form: str) -> str:
    """The typed text a form makes of a test recipe: its kept fields' words, title first."""
    kept = form_recipe(recipe, "title" if form == "text" else form)
    return " ".join([kept.title, *kept.ingredients, *kept.instructions])


def embed_texts_torch(encoder_path: Path, run_dir: Path, texts: Sequence[str]) -> np.ndarray:
    """Text-encoder embeddings (PyTorch: what text_encoder.onnx computes, export checks) of typed texts."""
    import torch

    from seje_sdk.text_query import encode_texts
    from trainer.features.store import FeatureStore
    from trainer.query_encoder import load_text_encoder

    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    store = FeatureStore.load(config["features_dir"])
    encoder = load_text_encoder(run_dir, store.word_vectors, encoder_path)
    with torch.inference_mode():
        return np.concatenate([encoder(torch.from_numpy(encode_texts(texts[s:s + 256], store.vocab))).numpy()
                               for s in range(0, len(texts), 256)])


def embed_forms(run_dir: Path, forms: Sequence[str], max_test: int | None = None) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, dict]:
    """({form: recipe embeddings}, image embeddings, category labels, run config) of the test split."""
    from seje_sdk.image import ImageSpec
    from seje_sdk.terms import TermTables, term_features
    from seje_sdk.text import RecipeText
    from trainer.data.recipe1m import read_split
    from trainer.evaluate import embed_images_torch, encode_recipe_batch, sentence_inputs
    from trainer.features.store import FeatureStore
    from trainer.features.tagger import load_tagger, torch_tagger_fn
    from trainer.model import load_run

    model, config = load_run(run_dir)
    features_dir = Path(config["features_dir"])
    store = FeatureStore.load(features_dir)
    test = read_split(config["data_dir"], "test", require_images=True)[:max_test]
    spec = ImageSpec.for_size(int(config["resolved_image_size"]))
    images = embed_images_torch(model, [r.image_paths[0] for r in test], spec)
    labels = np.array([r.class_id or 0 for r in test], dtype=np.int64)
    tables, tagger_fn = TermTables.load(features_dir), torch_tagger_fn(load_tagger(features_dir))
    title_terms, ranker = bool(store.config.get("title_terms", False)), str(store.config.get("ranker", "tfidf"))
    texts = [RecipeText(r.title or "", tuple(r.ingredients), tuple(r.instructions)) for r in test]
    out = {"_texts": texts}
    for form in forms:
        queries = [form_recipe(t, form) for t in texts]
        vectors = []
        for start in range(0, len(queries), 128):
            batch = queries[start:start + 128]
            tokens, lengths = sentence_inputs(batch, store)  # vocabulary ids, or MiniLM slots
            terms = term_features(batch, tables, tagger_fn, ranker, None, title_terms)
            vectors.append(encode_recipe_batch(model.recipe_encoder, tokens, lengths, terms))
        out[form] = np.concatenate(vectors)
    return out, images, labels, config


def score(recipes: np.ndarray, images: np.ndarray, labels: np.ndarray, bag_size: int, n_bags: int, seed: int) -> dict:
    """recipe -> image metrics on the bags (ties against the match where any query has a tie)."""
    from trainer.evaluate import bag_metrics

    bags = bag_metrics(images, recipes, bag_size, n_bags, seed, labels=labels)
    tied = bags["tied_queries"]["recipe_to_image"]
    rule = "against" if tied > 0 else "favour"
    values = (bags["ties_against"] if tied > 0 else bags)["recipe_to_image"]
    return {"metrics": {m: values[m]["mean"] for m in METRICS}, "std": {m: values[m].get("std", 0.0) for m in METRICS},
            "tie_rule": rule, "tied_queries": tied, "references": bags["references"], "bag_size": bags["bag_size"],
            "n_bags": bags["n_bags"]}


def markdown(report: dict) -> str:
    """One table: run x route x form rows, then chance and the category oracle on the same bags."""
    lines = [f"Image retrieval (query -> photo), {report['n_bags']} bags of {report['bag_size']} test pairs, "
             "mean over bags (± std; text-encoder mean rows: mean and std over seeds).", "",
             "| model | route | query | MedR | R@1 | R@10 |", "| --- | --- | --- | ---: | ---: | ---: |"]
    refs = None
    for run in report["runs"]:
        for route in run["routes"]:
            for form, row in route["forms"].items():
                m, s = row["metrics"], row["std"]
                note = " (ties against)" if row.get("tie_rule") == "against" else ""
                lines.append(f"| {run['name']} | {route['name']} | {form}{note} | {m['medr']:.1f} ± {s['medr']:.1f} | "
                             f"{m['r1']:.1f} ± {s['r1']:.1f} | {m['r10']:.1f} ± {s['r10']:.1f} |")
                refs = row.get("references", refs)
    for name in ("category_oracle", "chance"):
        r = refs[name]["recipe_to_image"]
        lines.append(f"| {name.replace('_', '-')} | | any | {r['medr']:.1f} | {r['r1']:.1f} | {r['r10']:.1f} |")
    return "\n".join(lines)


def seed_mean(routes: list[dict]) -> dict:
    """Mean and std over text-encoder seeds of each form's bag means."""
    forms = {}
    for form in routes[0]["forms"]:
        values = {m: [r["forms"][form]["metrics"][m] for r in routes] for m in METRICS}
        forms[form] = {"metrics": {m: float(np.mean(v)) for m, v in values.items()},
                       "std": {m: float(np.std(v)) for m, v in values.items()}}
    return {"name": f"text encoder, mean of {len(routes)}", "forms": forms}


def score_run(run_dir: Path, forms: Sequence[str], encoders: Sequence[Path], bag_size: int, n_bags: int,
              seed: int) -> tuple[list[dict], dict]:
    """Rows of one run: the recipe encoder per form, then each text encoder per form (and their mean)."""
    recipes, images, labels, config = embed_forms(run_dir, forms)
    texts = recipes.pop("_texts")
    routes = [{"name": "recipe encoder", "forms": {f: score(v, images, labels, bag_size, n_bags, seed)
                                                   for f, v in recipes.items()}}]
    text_routes = []
    for path in encoders:
        vectors = {f: embed_texts_torch(path, run_dir, [form_text(t, f) for t in texts]) for f in forms if f != "text"}
        text_routes.append({"name": f"text encoder {path.stem}", "file": str(path),
                            "forms": {f: score(v, images, labels, bag_size, n_bags, seed) for f, v in vectors.items()}})
    if len(text_routes) > 1:
        text_routes.append(seed_mean(text_routes))
    return routes + text_routes, config


@click.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--name", "names", multiple=True, help="row name per RUN_DIR (default: the folder name)")
@click.option("--forms", default=",".join(FORMS), show_default=True)
@click.option("--text-encoder", "encoders", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="a text_encoder.pt of the (last) run to score too; repeat for seeds")
@click.option("--bag-size", default=1000, show_default=True)
@click.option("--bags", "n_bags", default=10, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True, help="writes OUT.json and OUT.md")
def main(run_dirs, names, forms, encoders, bag_size, n_bags, seed, out) -> None:
    """Score each run on every query form (and its text encoders, if given)."""
    from benchmarks.environment import capture_environment

    forms = [f for f in forms.split(",") if f]
    unknown = sorted(set(forms) - set(FORMS))
    if unknown:
        raise click.BadParameter(f"unknown forms {unknown}; choose from {', '.join(FORMS)}", param_hint="--forms")
    names = list(names) + [Path(d).name for d in run_dirs[len(names):]]
    report: dict[str, Any] = {"command": " ".join(["python -m benchmarks.partial_queries", *sys.argv[1:]]),
                              "machine": platform.processor() or platform.machine(), "environment": capture_environment(),
                              "bag_size": bag_size, "n_bags": n_bags, "seed": seed, "runs": []}
    for i, (name, run_dir) in enumerate(zip(names, run_dirs)):
        start = time.perf_counter()
        mine = [Path(e) for e in encoders] if i == len(run_dirs) - 1 else []
        routes, config = score_run(Path(run_dir), forms, mine, bag_size, n_bags, seed)
        report["runs"].append({"name": name, "run_dir": str(run_dir), "field_dropout": config.get("field_dropout", 0.0),
                               "seed": config.get("seed"), "routes": routes, "seconds": time.perf_counter() - start})
        click.echo(f"{name}: {time.perf_counter() - start:.0f} s")
    report["bag_size"] = next(iter(routes[0]["forms"].values()))["bag_size"]
    write_json_and_markdown(out, report, markdown(report))
    click.echo(markdown(report))


if __name__ == "__main__":
    main()
