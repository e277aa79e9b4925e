"""The Ray distributor on a local 2-CPU Ray equals the sequential one, shard for shard and report for report."""
import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="the ray distributor needs ray[data] (pip install 'seje[ray]')")

from seje_sdk.corpus import CorpusConfig, embed_corpus  # noqa: E402
from seje_sdk.corpus.ray_distributor import RayOptions  # noqa: E402
from seje_sdk.corpus.shards import ShardSet  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


def shards_of(folder):
    return [(p.metadata(), np.asarray(p.vectors()), p.report()) for p in ShardSet.open(folder).parts()]


def test_ray_distributor_equals_sequential(tiny_bundle, tiny_data, tmp_path, local_ray):
    cfg = dict(shard_size=40, skip_bad=True, show_progress=False)
    seq = embed_corpus(tiny_bundle, tiny_data, tmp_path / "seq", CorpusConfig(**cfg))
    par = embed_corpus(tiny_bundle, tiny_data, tmp_path / "ray",
                       CorpusConfig(distributor="ray", ray=RayOptions(workers=2, threads_per_worker=1), **cfg))
    assert (par.shards, par.embedded, par.written) == (seq.shards, seq.embedded, seq.shards)
    for (meta_s, vec_s, rep_s), (meta_r, vec_r, rep_r) in zip(shards_of(tmp_path / "seq"), shards_of(tmp_path / "ray")):
        assert meta_r == meta_s and rep_r == rep_s
        np.testing.assert_array_equal(vec_r, vec_s)


def test_ray_distributor_reports_bad_items_and_resumes(tiny_bundle, tiny_data, tmp_path, local_ray):
    import json

    recipes = json.loads((tiny_data / "layer1.json").read_text())[:12]
    lines = [json.dumps(r) for r in recipes]
    lines[5] = "{broken"
    lines[9] = json.dumps({"id": "empty", "title": "nothing"})
    (tmp_path / "r.jsonl").write_text("\n".join(lines) + "\n")
    # wave_items=4: one shard per wave, so the three shards go to Ray in three waves; no GPUs asked for.
    cfg = CorpusConfig(distributor="ray", ray=RayOptions(workers=2, wave_items=4, gpus_per_worker=0), shard_size=4, skip_bad=True,
                       show_progress=False)
    s = embed_corpus(tiny_bundle, tmp_path / "r.jsonl", tmp_path / "out", cfg)
    skipped = [x for _, _, rep in shards_of(tmp_path / "out") for x in rep["skipped"]]
    assert [(x["position"], x["id"]) for x in skipped] == [(5, "5"), (9, "empty")] and (s.embedded, s.skipped) == (10, 2)
    (tmp_path / "out" / "embeddings" / "part-00001.npy").unlink()
    again = embed_corpus(tiny_bundle, tmp_path / "r.jsonl", tmp_path / "out", cfg)
    assert (again.written, again.resumed, again.embedded) == (1, 2, 10)


def test_cli_joins_a_running_cluster_with_ray_address(tiny_bundle, tiny_data, tmp_path, local_ray):
    import os
    import subprocess
    import sys
    from pathlib import Path

    address = ray.get_runtime_context().gcs_address  # this test's Ray stands in for a cluster's head
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-c", "from seje_sdk.cli import main; main()", "embed-corpus", str(tiny_bundle), str(tiny_data),
           "--out", str(tmp_path / "joined"), "--shard-size", "80", "--distributor", "ray", "--workers", "2",
           "--ray-address", address]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    embed_corpus(tiny_bundle, tiny_data, tmp_path / "seq", CorpusConfig(shard_size=80, show_progress=False))
    for (meta_s, vec_s, _), (meta_j, vec_j, _) in zip(shards_of(tmp_path / "seq"), shards_of(tmp_path / "joined")):
        assert meta_j == meta_s
        np.testing.assert_array_equal(vec_j, vec_s)
    assert ray.is_initialized()  # the joining job disconnected without stopping the cluster
