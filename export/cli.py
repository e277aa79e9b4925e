"""`seje-export`: turn a trained run into a verified, self-contained bundle."""
import json

import click

from export.onnx import DEFAULT_OPSET
from seje_sdk.cli_errors import SejeCommand
from seje_sdk.extras import needs_extra


@click.command(cls=SejeCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="BUNDLE_DIR to write.")
@click.option("--fp16", is_flag=True, help="Also write fp16 ONNX variants and fp16 TensorRT engines.")
@click.option("--int8", is_flag=True, help="Also write CPU int8 variants (static QDQ CNN, dynamic LSTM).")
@click.option("--engine", type=click.Choice(["auto", "tensorrt", "none"]), default="auto", show_default=True,
              help="TensorRT engines: auto = build them where a GPU and TensorRT exist, else skip and say why.")
@click.option("--opset", type=click.IntRange(min=7), default=DEFAULT_OPSET, show_default=True, help="ONNX opset.")
@click.option("--max-batch", type=click.IntRange(min=1), default=64, show_default=True,
              help="Largest batch the engines' optimisation profile (and Triton) accept.")
@click.option("--triton", "triton_dir", type=click.Path(file_okay=False), default=None,
              help="Also write a Triton Inference Server model repository here.")
@click.option("--no-verify", is_flag=True, help="Skip onnx.checker and parity (recorded as verified=false).")
@click.option("--strict", is_flag=True,
              help="Fail (exit 1, BUNDLE_DIR untouched) when any variant is refused; by default a refused fp16/int8/"
                   "TensorRT variant is left out, recorded in the manifest, and the export succeeds.")
@needs_extra("seje-export", "train", "export")
def main(run_dir: str, out_dir: str, fp16: bool, int8: bool, engine: str, opset: int | None, max_batch: int,
         triton_dir: str | None, no_verify: bool, strict: bool) -> None:
    """Export RUN_DIR's encoders to ONNX (and TensorRT where a GPU exists) with precomputed tables."""
    from export.bundle import export_run

    path = export_run(run_dir, out_dir, fp16=fp16, int8=int8, engine=engine, opset=opset, max_batch=max_batch,
                      triton_dir=triton_dir, verify=not no_verify, strict=strict)
    refused = json.loads((path / "manifest.json").read_text()).get("refused") or {}
    left_out = f"; left out (refused by parity): {', '.join(refused)}" if refused else ""
    click.echo(f"bundle written to {path}" + ("" if no_verify else " (verified)") + left_out)


if __name__ == "__main__":
    main()
