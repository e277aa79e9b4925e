"""The distributor table: one name -> class map behind the CLI choice, the config check and the runner; Ray options."""
import json

import pytest
from click.testing import CliRunner
from test_sdk_support import RECIPES, sdk_bundle  # noqa: F401  (session fixture)

from seje_sdk.cli import main
from seje_sdk.corpus import CorpusConfig, embed_corpus
from seje_sdk.corpus.distributor import DISTRIBUTORS, distributor_class
from seje_sdk.corpus.ray_distributor import RayDistributor, RayOptions
from seje_sdk.errors import InputError


def test_the_cli_offers_exactly_the_table():
    option = next(p for p in main.commands["embed-corpus"].params if p.name == "distributor")
    assert list(option.type.choices) == list(DISTRIBUTORS) == ["sequential", "ray"]


@pytest.mark.parametrize("name", list(DISTRIBUTORS))
def test_every_distributor_is_made_from_a_config(name):
    cls = distributor_class(name)
    made = cls.from_config(CorpusConfig(distributor=name))
    assert isinstance(made, cls) and made.name == name and callable(made.run)


def test_ray_options_travel_from_the_config_and_are_checked():
    options = RayOptions(workers=3, threads_per_worker=2, gpus_per_worker=0.5, wave_items=1000)
    made = RayDistributor.from_config(CorpusConfig(distributor="ray", ray=options))
    assert made.options == options
    with pytest.raises(InputError, match="distributor must be one of sequential, ray, got 'spark'"):
        CorpusConfig(distributor="spark")
    with pytest.raises(InputError, match="--wave-items must be >= 1"):
        RayOptions(wave_items=0)
    with pytest.raises(InputError, match="--gpus-per-worker must be >= 0"):
        RayOptions(gpus_per_worker=-1)
    with pytest.raises(InputError, match="shard dtype must be one of float32, float16"):
        CorpusConfig(dtype="int8")


def test_cli_options_reach_the_job_config(sdk_bundle, tmp_path):
    (tmp_path / "r.jsonl").write_text("\n".join(json.dumps(r) for r in RECIPES) + "\n")
    res = CliRunner().invoke(main, ["embed-corpus", str(sdk_bundle), str(tmp_path / "r.jsonl"), "--out", str(tmp_path / "out"),
                                    "--shard-size", "2", "--wave-items", "7", "--gpus-per-worker", "0", "--workers", "3"])
    assert res.exit_code == 0, res.output
    last_run = json.loads((tmp_path / "out" / "manifest.json").read_text())["last_run"]
    assert last_run["ray"] == {"workers": 3, "threads_per_worker": 1, "address": None, "gpus_per_worker": 0.0, "wave_items": 7}
    assert (last_run["distributor"], last_run["shard_size"]) == ("sequential", 2)
    res = CliRunner().invoke(main, ["embed-corpus", str(sdk_bundle), str(tmp_path / "r.jsonl"), "--out", str(tmp_path / "x"),
                                    "--wave-items", "0"])
    assert res.exit_code == 2 and "--wave-items" in res.output and not (tmp_path / "x").exists()


def test_a_config_default_is_the_cli_default(sdk_bundle):
    """Defaults are written once (CorpusConfig / RayOptions); --help shows those values."""
    out = " ".join(CliRunner().invoke(main, ["embed-corpus", "--help"]).output.split())
    assert f"default: {CorpusConfig().shard_size}" in out and f"default: {RayOptions().wave_items}" in out


def test_sequential_run_embeds_every_item(sdk_bundle, tmp_path):
    (tmp_path / "r.jsonl").write_text("\n".join(json.dumps(r) for r in RECIPES) + "\n")
    s = embed_corpus(sdk_bundle, tmp_path / "r.jsonl", tmp_path / "o", CorpusConfig(shard_size=2, show_progress=False))
    assert (s.shards, s.embedded, s.skipped) == (2, 3, 0)
