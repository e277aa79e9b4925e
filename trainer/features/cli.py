"""`seje-train features`: SEJE Phase 1 feature engineering into FEATURES_DIR."""
import click


@click.command()
@click.option("--data", "data_dir", required=True, type=click.Path(exists=True, file_okay=False), help="Recipe1M-layout folder.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="FEATURES_DIR to write.")
@click.option("--preset", type=click.Choice(["tiny", "cpu", "paper"]), default="cpu", show_default=True)
def features(data_dir: str, out_dir: str, preset: str) -> None:
    """Train Word2vec, skip-instructions, the ingredient tagger, rankers and the category classifier."""
    raise click.ClickException("features is being built (issue 3)")
