"""`seje-train`: synthesise data, build Phase 1 features, fit and evaluate the SEJE model."""
import click

from seje_sdk.cli_errors import SejeGroup
from trainer.data.cli import data_stats, import_, synth
from trainer.features.cli import features
from trainer.run_cli import convert, evaluate, fit, text_encoder


@click.group(cls=SejeGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Train SEJE: `synth` a dataset, build `features`, `fit` the joint embedding, `eval` it."""


main.add_command(synth)
main.add_command(data_stats)
main.add_command(import_)
main.add_command(features)
main.add_command(fit)
main.add_command(evaluate)
main.add_command(convert)
main.add_command(text_encoder)

if __name__ == "__main__":
    main()
