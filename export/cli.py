"""`seje-export`: turn a trained run into a verified, self-contained bundle."""
import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="BUNDLE_DIR to write.")
@click.option("--fp16", is_flag=True, help="Also write fp16 ONNX variants and fp16 TensorRT engines.")
@click.option("--int8", is_flag=True, help="Also write CPU int8 variants (static QDQ CNN, dynamic LSTM).")
def main(run_dir: str, out_dir: str, fp16: bool, int8: bool) -> None:
    """Export RUN_DIR's encoders to ONNX (and TensorRT where a GPU exists) with precomputed tables."""
    raise click.ClickException("export is being built (issue 5)")
