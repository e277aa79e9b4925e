"""`seje embed-corpus` on the sequential distributor: readers, shards, reports, resume after SIGKILL."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from seje_sdk.corpus import CorpusConfig, embed_corpus
from seje_sdk.corpus.reader import iter_items, open_source
from seje_sdk.corpus.shards import ShardSet
from seje_sdk.errors import InputError

QUIET = dict(show_progress=False)


def shards_of(folder):
    """[(ids, vectors, report)] per complete shard, in shard order."""
    s = ShardSet.open(folder)
    return [(p.metadata()["id"], np.asarray(p.vectors()), p.report()) for p in s.parts()]


@pytest.fixture(scope="module")
def lists(tiny_data, tmp_path_factory):
    """A JSONL of recipes with one bad line, one duplicate id and one recipe of unknown words; a parquet of image paths with one missing."""
    folder = tmp_path_factory.mktemp("lists")
    recipes = json.loads((tiny_data / "layer1.json").read_text())[:10]
    lines = [json.dumps(r) for r in recipes[:6]]
    lines.insert(2, "{not json")
    lines.append(json.dumps(recipes[0]))  # duplicate id
    lines.append(json.dumps({"id": "zz", "title": "qqq", "instructions": [{"text": "xyzzy plugh"}]}))
    (folder / "recipes.jsonl").write_text("\n".join(lines) + "\n")
    images = sorted((tiny_data / "images").rglob("*.jpg"))[:5]
    rows = [{"id": f"im{i}", "path": os.path.relpath(p, folder)} for i, p in enumerate(images)]
    rows.insert(3, {"id": "gone", "path": "nowhere/missing.jpg"})
    pq.write_table(pa.Table.from_pylist(rows), folder / "images.parquet")
    return folder


def test_recipe1m_recipes_in_layer1_order_equal_the_sdk(tiny_bundle, tiny_data, tmp_path):
    from seje_sdk import Retriever

    s = embed_corpus(tiny_bundle, tiny_data, tmp_path / "c", CorpusConfig(shard_size=64, **QUIET))
    layer1 = json.loads((tiny_data / "layer1.json").read_text())
    parts = shards_of(tmp_path / "c")
    assert (s.shards, s.embedded, s.skipped, s.written) == (3, len(layer1), 0, 3)
    assert [len(ids) for ids, _, _ in parts] == [64, 64, len(layer1) - 128]
    assert [i for ids, _, _ in parts for i in ids] == [r["id"] for r in layer1]
    meta = ShardSet.open(tmp_path / "c").parts().__next__().metadata()
    assert meta["title"][:3] == [r["title"] for r in layer1[:3]] and meta["position"][:3] == [0, 1, 2]
    # The shard holds exactly what the SDK computes for the same recipes.
    direct = Retriever.load(tiny_bundle).embed_recipes(layer1[:64])
    np.testing.assert_array_equal(parts[0][1], direct)


def test_recipe1m_images_from_layer2_and_image_folder(tiny_bundle, tiny_data, tmp_path):
    layer2 = json.loads((tiny_data / "layer2.json").read_text())
    n_images = sum(len(e["images"]) for e in layer2)
    src = open_source(tiny_data, "image")
    items = list(iter_items(src))
    assert (src.kind, src.modality, len(items)) == ("recipe1m", "image", n_images)
    assert [it.id for it in items] == [im["id"] for e in layer2 for im in e["images"]] and not any(it.bad for it in items)
    folder = open_source(tiny_data / "images")
    assert (folder.kind, folder.modality, folder.count) == ("images", "image", n_images)
    s = embed_corpus(tiny_bundle, tiny_data / "images", tmp_path / "f", CorpusConfig(shard_size=100, dtype="float16", **QUIET))
    parts = shards_of(tmp_path / "f")
    assert s.embedded == n_images and parts[0][1].dtype == np.float16
    assert parts[0][0][0] == sorted(p.relative_to(tiny_data / "images").as_posix() for p in (tiny_data / "images").rglob("*.jpg"))[0]
    assert Path(ShardSet.open(tmp_path / "f").parts().__next__().metadata()["path"][0]).is_file()


def test_bad_items_are_listed_in_the_shard_report(tiny_bundle, lists, tmp_path):
    s = embed_corpus(tiny_bundle, lists / "recipes.jsonl", tmp_path / "r", CorpusConfig(shard_size=4, skip_bad=True, **QUIET))
    reports = [r for _, _, r in shards_of(tmp_path / "r")]
    skipped = {x["position"]: x["reason"] for r in reports for x in r["skipped"]}
    assert sorted(skipped) == [2, 7, 8] and s.skipped == 3 and s.embedded == 6
    assert "bad JSON" in skipped[2] and "duplicate id" in skipped[7] and "vocabulary" in skipped[8]
    assert sum(r["items"] for r in reports) == 9  # every item is either embedded or reported
    s = embed_corpus(tiny_bundle, lists / "images.parquet", tmp_path / "i", CorpusConfig(shard_size=10, skip_bad=True, **QUIET))
    ((ids, vectors, report),) = shards_of(tmp_path / "i")
    assert ids == ["im0", "im1", "im2", "im3", "im4"] and vectors.shape[0] == 5
    assert report["skipped"] == [{"id": "gone", "position": 3, "reason": report["skipped"][0]["reason"]}]
    assert "not found" in report["skipped"][0]["reason"]


def test_without_skip_bad_the_bad_shard_stops_the_job_with_its_item(tiny_bundle, lists, tmp_path):
    with pytest.raises(InputError, match=r"position 2.*bad JSON.*--skip-bad"):
        embed_corpus(tiny_bundle, lists / "recipes.jsonl", tmp_path / "r", CorpusConfig(shard_size=2, **QUIET))
    assert ShardSet.open(tmp_path / "r").numbers() == [0]  # the shard before it was kept, the bad one not written


def test_cli_refuses_another_job_in_the_same_folder(tiny_bundle, tiny_data, lists, tmp_path):
    from seje_sdk.cli import main

    out = tmp_path / "c"
    res = CliRunner().invoke(main, ["embed-corpus", str(tiny_bundle), str(lists / "images.parquet"), "--out", str(out), "--skip-bad"])
    assert res.exit_code == 0, res.output
    assert "1 " in res.output and "skipped items are listed" in res.output
    res = CliRunner().invoke(main, ["embed-corpus", str(tiny_bundle), str(lists / "images.parquet"), "--out", str(out), "--shard-size", "3"])
    assert res.exit_code == 2 and "shard_size: 10000 there, 3 now" in res.output
    res = CliRunner().invoke(main, ["embed-corpus", str(tiny_bundle), str(tiny_data / "layer1.json") + "x", "--out", str(tmp_path / "d")])
    assert res.exit_code == 2


def test_sigkill_midway_then_resume_equals_an_uninterrupted_run(tiny_bundle, tiny_data, tmp_path):
    args = ["embed-corpus", str(tiny_bundle), str(tiny_data), "--out", str(tmp_path / "killed"), "--shard-size", "2"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", "from seje_sdk.cli import main; main()", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shards = tmp_path / "killed" / "embeddings"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(shards.glob("part-*.npy"))) < 5 and proc.poll() is None:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(list(shards.glob("part-*.npy")))
    n_shards = len(json.loads((tiny_data / "layer1.json").read_text())) // 2
    assert 5 <= done_before < n_shards, "the run was not killed midway"

    resumed = embed_corpus(tiny_bundle, tiny_data, tmp_path / "killed", CorpusConfig(shard_size=2, **QUIET))
    assert resumed.resumed >= done_before and resumed.written == n_shards - resumed.resumed
    assert not list((tmp_path / "killed").rglob("*.tmp"))
    embed_corpus(tiny_bundle, tiny_data, tmp_path / "whole", CorpusConfig(shard_size=2, **QUIET))
    killed, whole = shards_of(tmp_path / "killed"), shards_of(tmp_path / "whole")
    assert len(killed) == len(whole) == n_shards
    for (ids_k, vec_k, _), (ids_w, vec_w, _) in zip(killed, whole):
        assert ids_k == ids_w
        np.testing.assert_array_equal(vec_k, vec_w)


def test_corpus_package_imports_without_ray_pyarrow_or_torch():
    code = ("import sys, seje_sdk.corpus, seje_sdk.corpus.index_from_shards, seje_sdk.cli; "
            "bad = [m for m in ('ray', 'pyarrow', 'torch', 'faiss') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
