"""How much photo-side dish recognition limits typed-title queries: title -> photo with the run's text
encoder alone, and with the photos of the title's dish put first (by the true dish, i.e. a perfect
photo classifier, or by the run's own classifier), beside chance and the category-only oracle.

    python -m benchmarks.title_ceiling RUN_DIR --out benchmarks/results/title_ceiling

The "true dish first" row is not a model anyone can ship: it says what the text encoder's ranking
inside a dish is worth once the photos' dish is known. Ties count against the match.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import click
import numpy as np

from benchmarks.report import write_json_and_markdown

DISH_BONUS = 10.0  # cosines lie in [-1, 1]: +10 puts every photo of the dish ahead of every other photo


def photo_side(run_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(embeddings, classifier's dish per photo, true dish per pair, titles) of the test split's first photos."""
    import torch

    from seje_sdk.image import ImageSpec, preprocess
    from trainer.data.recipe1m import read_split
    from trainer.model import load_run

    model, config = load_run(run_dir)
    test = read_split(config["data_dir"], "test", require_images=True)
    spec = ImageSpec.for_size(int(config["resolved_image_size"]))
    embeddings, predicted = [], []
    with torch.inference_mode():
        for start in range(0, len(test), 64):
            pixels = np.stack([preprocess(r.image_paths[0], spec) for r in test[start:start + 64]])
            emb, logits = model.image_encoder(torch.from_numpy(pixels))
            embeddings.append(emb.numpy())
            predicted.append(logits.argmax(1).numpy())
    labels = np.array([r.class_id or 0 for r in test])
    return np.concatenate(embeddings), np.concatenate(predicted), labels, [r.title or "" for r in test]


def ranks(scores: np.ndarray) -> np.ndarray:
    """1-based rank of each query's own photo (the diagonal), ties against it."""
    return (scores >= np.diag(scores)[:, None]).sum(1)


def bag_means(scores: Callable[[np.ndarray], np.ndarray], bags: list[np.ndarray]) -> dict[str, float]:
    """MedR and R@k of each bag's (queries x photos) `scores(bag)`, ties against, averaged over the bags."""
    from trainer.evaluate import summarise_ranks

    per_bag = [summarise_ranks(ranks(scores(b))) for b in bags]
    return {m: float(np.mean([p[m] for p in per_bag])) for m in per_bag[0]}


def ceiling(run_dir: Path, bag_size: int, n_bags: int, seed: int) -> dict:
    """Rows of metrics (mean over bags) per ranking, plus chance and the oracle on the same bags."""
    from benchmarks.partial_queries import embed_texts_torch
    from trainer.evaluate import draw_bags
    from trainer.references import reference_metrics

    images, predicted, labels, titles = photo_side(run_dir)
    queries = embed_texts_torch(run_dir / "text_encoder.pt", run_dir, titles)
    bags = draw_bags(len(images), bag_size, n_bags, np.random.default_rng(seed))
    rankings = {
        "text encoder": lambda b: 0.0,
        "text encoder, photos of the run classifier's dish first": lambda b: predicted[b][None] == labels[b][:, None],
        "text encoder, photos of the true dish first (a perfect photo classifier)":
            lambda b: labels[b][None] == labels[b][:, None],
    }
    rows = {name: bag_means(lambda b, same=same_dish: queries[b] @ images[b].T + DISH_BONUS * same(b), bags)
            for name, same_dish in rankings.items()}
    refs = reference_metrics([labels[b] for b in bags], seed)
    rows.update({name.replace("_", "-"): refs[name]["recipe_to_image"] for name in ("category_oracle", "chance")})
    accuracy = float(np.mean(predicted == labels))
    return {"rows": rows, "photo_classifier_top1": accuracy, "bag_size": bag_size, "n_bags": n_bags}


def markdown(report: dict) -> str:
    lines = [f"Title-only queries -> photo, {report['n_bags']} bags of {report['bag_size']} test pairs (ties against); "
             f"the run's photo classifier names the dish of {100 * report['photo_classifier_top1']:.1f}% of these photos.", "",
             "| ranking | MedR | R@1 | R@10 |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {name} | {m['medr']:.1f} | {m['r1']:.1f} | {m['r10']:.1f} |" for name, m in report["rows"].items()]
    return "\n".join(lines)


def title_command(module: str, build: Callable[[Path, int, int, int], dict], to_markdown: Callable[[dict], str],
                  help: str) -> click.Command:
    """`python -m MODULE RUN_DIR --out OUT`: build(run_dir, bag_size, n_bags, seed)'s report as OUT.json and OUT.md."""

    @click.command(help=help)
    @click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
    @click.option("--bag-size", default=1000, show_default=True)
    @click.option("--bags", "n_bags", default=10, show_default=True)
    @click.option("--seed", default=0, show_default=True)
    @click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="writes OUT.json and OUT.md")
    def command(run_dir: Path, bag_size: int, n_bags: int, seed: int, out: Path) -> None:
        from benchmarks.environment import capture_environment

        if not (run_dir / "text_encoder.pt").is_file():
            raise click.BadParameter(f"{run_dir}: no text_encoder.pt (fit with text_encoder: true)", param_hint="RUN_DIR")
        report = {"command": " ".join([f"python -m {module}", *sys.argv[1:]]), "run_dir": str(run_dir),
                  "environment": capture_environment(), **build(run_dir, bag_size, n_bags, seed)}
        write_json_and_markdown(out, report, to_markdown(report))
        click.echo(to_markdown(report))

    return command


main = title_command("benchmarks.title_ceiling", ceiling, markdown, "Title -> photo with and without the photos' dish known.")


if __name__ == "__main__":
    main()
