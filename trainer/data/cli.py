"""`seje-train synth`: write the embedded mini dataset in the Recipe1M layout."""
import click


@click.command()
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--recipes", default=2000, show_default=True, help="Number of recipes to generate.")
@click.option("--seed", default=0, show_default=True, help="Random seed (same seed, same bytes).")
def synth(out_dir: str, recipes: int, seed: int) -> None:
    """Generate a synthetic Recipe1M-format dataset (layer1/layer2/det_ingrs/images/classes1M.pkl)."""
    raise click.ClickException("synth is being built (issue 2)")
