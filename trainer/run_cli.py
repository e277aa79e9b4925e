"""`seje-train fit` and `seje-train eval`: Phase 2 joint embedding training and evaluation."""
from __future__ import annotations

import click

from seje_sdk.extras import needs_extra


@click.command()
@click.option("--data", "data_dir", required=True, type=click.Path(exists=True, file_okay=False), help="Recipe1M-layout folder.")
@click.option("--features", "features_dir", required=True, type=click.Path(exists=True, file_okay=False), help="FEATURES_DIR.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="RUN_DIR to write.")
@click.option("--preset", type=click.Choice(["tiny", "cpu", "small", "paper"]), default="cpu", show_default=True,
              help="cpu: SEJE as published, scaled to 2 cores; small: for collections under ~2,000 recipes.")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False), help="YAML/JSON overrides.")
@click.option("--epochs", type=click.IntRange(min=1), help="Maximum epochs.")
@click.option("--batch-size", type=click.IntRange(min=2), help="Global batch size (split across torchrun processes).")
@click.option("--backbone", help="Image backbone (e.g. resnet50, efficientnet_lite0); implies --no-share-backbone.")
@click.option("--backbone-weights", type=click.Path(exists=True, dir_okay=False), help="Local .pth for --backbone.")
@click.option("--image-size", type=click.IntRange(min=32), help="Training/eval crop size in pixels.")
@click.option("--seed", type=int, help="Random seed.")
@click.option("--category-feature", type=click.Choice(["top1", "soft"]),
              help="Image category feature: the probability-weighted mean of the category vectors (soft, default) "
                   "or the top class's vector (top1, SEJE's).")
@click.option("--resume", is_flag=True, help="Continue RUN_DIR from checkpoints/last.pt exactly.")
@click.option("--baseline", is_flag=True, help="Plain triplet baseline: no semantic features, no alignment losses.")
@needs_extra("seje-train fit", "train")
def fit(data_dir: str, features_dir: str, out_dir: str, preset: str, config_file: str | None, epochs: int | None,
        batch_size: int | None, backbone: str | None, backbone_weights: str | None, image_size: int | None, seed: int | None,
        category_feature: str | None, resume: bool, baseline: bool) -> None:
    """Train the SEJE joint embedding into RUN_DIR (multi-process: launch with torchrun)."""
    from trainer.data.validate import check_dataset

    click.echo(check_dataset(data_dir, "fit").summary())  # before importing torch
    from trainer.train import run_fit

    overrides = {k: v for k, v in dict(epochs=epochs, batch_size=batch_size, backbone=backbone,
                                       backbone_weights=backbone_weights, image_size=image_size, seed=seed,
                                       category_feature=category_feature).items() if v is not None}
    if backbone is not None:
        overrides["share_backbone"] = False
    run = run_fit(data_dir, features_dir, out_dir, preset=preset, overrides=overrides, resume=resume,
                  config_file=config_file, baseline=baseline, check=False)
    click.echo(f"run written to {run}; evaluate with `seje-train eval --run {run}`")


@click.command("eval")
@click.option("--run", "run_dir", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--data", "data_dir", type=click.Path(exists=True, file_okay=False), help="Default: the run's data.")
@click.option("--bags", "n_bags", default=10, show_default=True, help="Seeded bags per bag size.")
@click.option("--bag-sizes", default="1000,10000", show_default=True, help="Comma-separated bag sizes N.")
@click.option("--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True)
@needs_extra("seje-train eval", "train")
def evaluate(run_dir: str, data_dir: str | None, n_bags: int, bag_sizes: str, checkpoint: str) -> None:
    """Evaluate a run with the Recipe1M protocol (MedR, R@1/5/10, 1k/10k bags); writes eval.json."""
    from trainer.evaluate import evaluate_run

    try:
        sizes = tuple(int(s) for s in bag_sizes.split(",") if s.strip())
        if not sizes or min(sizes) < 2 or n_bags < 1:
            raise ValueError
    except ValueError:
        raise click.BadParameter("bag sizes must be integers >= 2 and --bags >= 1", param_hint="--bag-sizes/--bags")
    evaluate_run(run_dir, data_dir, bag_sizes=sizes, n_bags=n_bags, which=checkpoint)


@click.command("convert")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--trust-pickles", is_flag=True,
              help="I trust where this folder came from: unpickle its old .pt files (this runs their code) once.")
@needs_extra("seje-train convert", "train", modules=("torch",))
def convert(run_dir: str, trust_pickles: bool) -> None:
    """Rewrite an old run folder's checkpoints and caches as plain tensors, loadable without pickle."""
    from trainer.checkpoints import convert_run

    done = convert_run(run_dir, trust_pickles=trust_pickles)
    click.echo(f"{run_dir}: rewrote {', '.join(p.name for p in done)}" if done else f"{run_dir}: already plain data")


@click.command("text-encoder")
@click.option("--run", "run_dir", required=True, type=click.Path(exists=True, file_okay=False), help="A fitted RUN_DIR.")
@click.option("--epochs", type=click.IntRange(min=1), help="Default: the run's text_encoder_epochs.")
@click.option("--seed", type=int, help="The text encoder's seed (default: the run's).")
@click.option("--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True)
@needs_extra("seje-train text-encoder", "train")
def text_encoder(run_dir: str, epochs: int | None, seed: int | None, checkpoint: str) -> None:
    """Train the typed-text query encoder of a fitted run (RUN_DIR/text_encoder.pt); the model is left as it is."""
    import json
    from pathlib import Path

    from trainer.config import config_from_dict
    from trainer.query_encoder import TextEncoderConfig, train_text_encoder

    config_path = Path(run_dir) / "config.json"
    if not config_path.is_file():
        raise click.BadParameter(f"{run_dir} has no config.json; train it with `seje-train fit --data DATA_DIR --features FEATURES_DIR --out RUN_DIR` first", param_hint="--run")
    cfg = config_from_dict({"field_dropout": 0.0, **json.loads(config_path.read_text(encoding="utf-8"))})
    summary = train_text_encoder(run_dir, TextEncoderConfig(epochs=epochs or cfg.text_encoder_epochs,
                                                            seed=cfg.seed if seed is None else seed), which=checkpoint)
    best = summary["history"][summary["best_epoch"] - 1]
    click.echo(f"text encoder written to {Path(run_dir) / 'text_encoder.pt'}: best epoch {summary['best_epoch']}, "
               f"val title->image R@1 {best['val_title_r1']:.1f} MedR {best['val_title_medr']:.1f} "
               f"({summary['seconds']:.0f} s); export the run again to put it in the bundle")
