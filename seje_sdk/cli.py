"""`seje`: embed, index and search with an exported bundle."""
import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Cross-modal food retrieval with a seje bundle: embed, build an index, search, inspect."""


@main.command()
@click.argument("bundle", type=click.Path(exists=True, file_okay=False))
def info(bundle: str) -> None:
    """Show what a bundle holds (model, variants, backends)."""
    raise click.ClickException("info is being built (issue 6)")
