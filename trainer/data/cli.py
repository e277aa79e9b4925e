"""`seje-train synth` and `seje-train data-stats`: thin click layers over trainer.data."""

from __future__ import annotations

import click

from seje_sdk.extras import needs_extra
from trainer.data.import_writer import LINKS
from trainer.data.importer import REPORT, ImportConfig, import_collection


def format_table(rows: list[tuple[str, object]], header: tuple[str, str] = ("statistic", "value")) -> str:
    """A two-column plain-text table (right-aligned values)."""
    cells = [
        (str(k), f"{v:,}" if isinstance(v, int) else f"{v:.2f}" if isinstance(v, float) else str(v)) for k, v in rows
    ]
    wk = max(len(header[0]), *(len(k) for k, _ in cells))
    wv = max(len(header[1]), *(len(v) for _, v in cells))
    line = f"+-{'-' * wk}-+-{'-' * wv}-+"
    out = [line, f"| {header[0]:<{wk}} | {header[1]:>{wv}} |", line]
    out += [f"| {k:<{wk}} | {v:>{wv}} |" for k, v in cells]
    return "\n".join(out + [line])


def stats_rows(stats: dict) -> list[tuple[str, object]]:
    """Rows of the statistics table shared by `synth` and `data-stats`."""
    rows: list[tuple[str, object]] = [("recipes", stats["recipes"])]
    rows += [(f"  {p}", n) for p, n in stats["partitions"].items()]
    rows += [
        ("categories", stats["categories"]),
        ("background recipes (class 0)", stats["background_recipes"]),
        ("images", stats["images"]),
        ("mean ingredients / recipe", stats["mean_ingredients"]),
        ("mean instructions / recipe", stats["mean_instructions"]),
        ("bytes on disk", stats["bytes"]),
    ]
    if "skipped" in stats:
        rows.append(("skipped records", stats["skipped"]))
    if "peak_rss_mb" in stats:
        rows += [
            ("reader peak RSS (MB)", stats["peak_rss_mb"]),
            ("reader MB per million recipes", stats["reader_mb_per_million"]),
        ]
    if "seconds" in stats:
        rows.append(("seconds", stats["seconds"]))
    return rows


@click.command()
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--recipes", default=3500, show_default=True, help="Number of recipes (3500: >= 1,000 test pairs).")
@click.option("--seed", default=0, show_default=True, help="Random seed (same seed, same bytes).")
@click.option("--image-size", default=160, show_default=True, help="Approximate photo size in pixels (varies +-15%).")
@click.option(
    "--images/--no-images",
    default=True,
    show_default=True,
    help="--no-images writes the text files only (layer2 still lists image ids): for reader/text scale tests.",
)
def synth(out_dir: str, recipes: int, seed: int, image_size: int, images: bool) -> None:
    """Generate a synthetic Recipe1M-format dataset (layer1/layer2/det_ingrs/images/classes1M.pkl)."""
    from trainer.data.synth import generate

    try:
        stats = generate(out_dir, n_recipes=recipes, seed=seed, image_size=image_size, images=images)
    except ValueError as e:
        raise click.BadParameter(str(e)) from e
    click.echo(f"wrote {out_dir}")
    click.echo(format_table(stats_rows(stats)))


@click.command("data-stats")
@click.argument("data_dir", type=click.Path(file_okay=False))
@click.option("--skip-bad", is_flag=True, help="Count and report bad records instead of failing on the first.")
@click.option(
    "--require-images/--all-recipes",
    default=False,
    show_default=True,
    help="Keep only recipes whose image files exist (as training does).",
)
@click.option("--verify-images", is_flag=True, help="Also decode-check every image with Pillow (slow).")
@needs_extra("seje-train data-stats", "train", modules=("ijson",))
def data_stats(data_dir: str, skip_bad: bool, require_images: bool, verify_images: bool) -> None:
    """Read a Recipe1M-layout folder with the streaming reader and print its statistics."""
    from trainer.data.recipe1m import dataset_stats

    stats, report = dataset_stats(data_dir, require_images=require_images, skip_bad=skip_bad, verify_images=verify_images)
    click.echo(format_table(stats_rows(stats)))
    if report.total:
        click.echo(report.summary(), err=True)


IMPORT_DEFAULTS = ImportConfig()


@click.command("import")
@click.argument("source", type=click.Path())
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="DATA_DIR to write (Recipe1M layout).")
@click.option("--images-root", type=click.Path(file_okay=False), default=None,
              help="Where relative photo paths start (default: the recipes file's folder).")
@click.option("--split", "split_text", default=",".join(f"{f:g}" for f in IMPORT_DEFAULTS.split), show_default=True,
              help="train,val,test fractions for rows without a 'partition'.")
@click.option("--seed", default=IMPORT_DEFAULTS.seed, show_default=True,
              help="Seed of the split (same seed and rows, same split).")
@click.option("--link", type=click.Choice(LINKS), default=IMPORT_DEFAULTS.link, show_default=True,
              help="How photo files are placed under DATA_DIR/images.")
@click.option("--max-classes", default=IMPORT_DEFAULTS.categories.max_classes, show_default=True,
              help="Most categories derived from titles.")
@click.option("--min-class-count", type=int, default=IMPORT_DEFAULTS.categories.min_count,
              help="Training titles a derived category needs (default: 2 for small collections, up to 5 from 1,250 titles).")
@needs_extra("seje-train import", "train", modules=("ijson",))
def import_(source: str, out_dir: str, images_root: str | None, split_text: str, seed: int, link: str,
            max_classes: int, min_class_count: int | None) -> None:
    """Import a JSONL/CSV/parquet file, a photo folder with a recipes file, or a HF datasets folder."""
    from trainer.data.split import parse_fractions
    from trainer.data.title_categories import CategoryConfig

    try:
        fractions = parse_fractions(split_text)
    except ValueError as e:
        raise click.BadParameter(str(e)) from e
    cfg = ImportConfig(fractions, seed, link, CategoryConfig(max_classes, min_class_count))
    report = import_collection(source, out_dir, images_root, cfg)
    rows = [(f"recipes {p} (photo pairs)", f"{report['recipes'][p]:,} ({report['pairs'][p]:,})") for p in report["pairs"]]
    rows += [("categories (" + report["categories"]["source"] + ")", report["categories"]["classes"]),
             ("category coverage (not background)", report["categories"]["coverage"]),
             ("ingredient lines with a usable derived name", report["ingredients"]["valid_share"]),
             ("distinct ingredient names (training lines -> one name each)", _names_row(report["ingredients"])),
             ("exact-duplicate groups (kept in one partition)", report["duplicates"]["groups"])]
    unseen = report["unseen_words"]
    rows.append(("test recipes told apart only by words unseen in train", unseen["recipes"]))
    rows += [(f"problem: {kind}", info["count"]) for kind, info in report["problems"].items()]
    click.echo(f"wrote {out_dir} (report: {out_dir}/{REPORT}, every problem: {out_dir}/import_problems.jsonl)")
    click.echo(format_table(rows))
    if unseen["share"] > 0.05:
        click.echo(f"warning: {unseen['share']:.1%} of the test recipes differ from another only in words seen fewer than "
                   f"{unseen['min_count']} times in training ({', '.join(list(unseen['words'])[:8])}); the model reads "
                   "those as one unknown word and will give such recipes the same vector; `word_vectors: fasttext` in the "
                   "features config (`seje-train features --data DATA_DIR --out FEATURES_DIR --config FILE`) gives unseen ingredient words, and title words with "
                   "title_terms, a vector from their letters", err=True)


def _names_row(ingredients: dict) -> str:
    distinct = ingredients.get("distinct") or {}
    if not distinct:
        return "-"
    return f"{distinct['training_names']:,} -> {distinct['after_normalising']:,}"
