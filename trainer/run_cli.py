"""`seje-train fit` and `seje-train eval`: Phase 2 joint embedding training and evaluation."""
import click


@click.command()
@click.option("--data", "data_dir", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--features", "features_dir", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@click.option("--preset", type=click.Choice(["tiny", "cpu", "paper"]), default="cpu", show_default=True)
def fit(data_dir: str, features_dir: str, out_dir: str, preset: str) -> None:
    """Train the SEJE joint embedding into RUN_DIR."""
    raise click.ClickException("fit is being built (issue 4)")


@click.command("eval")
@click.option("--run", "run_dir", required=True, type=click.Path(exists=True, file_okay=False))
def evaluate(run_dir: str) -> None:
    """Evaluate a run with the Recipe1M protocol (MedR, R@1/5/10, 1k/10k bags)."""
    raise click.ClickException("eval is being built (issue 4)")
