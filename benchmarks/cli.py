"""`seje-bench`: latency and retrieval benchmarks."""
import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Measure latency/throughput of every backend and retrieval quality of every variant."""


@main.command()
@click.argument("bundle", type=click.Path(exists=True, file_okay=False))
def latency(bundle: str) -> None:
    """Latency and throughput per backend, precision, encoder and batch size."""
    raise click.ClickException("latency is being built (issue 7)")
