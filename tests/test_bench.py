"""seje-bench: the harness's statistics and interleaving, search recall, target checks, and a --quick
smoke run of both commands on the tiny bundle that checks the JSON, Markdown and PNG reports."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from benchmarks.harness import BenchCase, TimingConfig, add_ratios, latency_stats, run_interleaved
from benchmarks.report import PNG_MAGIC, md_table
from benchmarks.search_scaling import ClusteredVectors, numpy_topk, recall_at_k
from benchmarks.targets import MET, MISSED, NOT_MEASURED, latency_targets, search_targets

GPU_ROWS = {("onnxruntime-cuda", "fp32"), ("onnxruntime-cuda", "fp16"), ("tensorrt", "fp32"), ("tensorrt", "fp16")}


def test_latency_stats_match_hand_computed_values():
    s = latency_stats([0.1, 0.2, 0.3, 0.4], batch_size=2)
    assert s["p50_ms"] == pytest.approx(250.0)
    assert s["p90_ms"] == pytest.approx(370.0)  # numpy linear interpolation: 0.3 + 0.7 * 0.1
    assert s["mean_ms"] == pytest.approx(250.0)
    assert s["throughput"] == pytest.approx(8 / 1.0)  # 4 batches of 2 items in 1.0 s


def test_cases_are_interleaved_round_robin_and_failures_are_rows():
    calls: list[str] = []

    def runner(name):
        return lambda batch: calls.append(name)

    def broken(batch):
        raise RuntimeError("kernel missing")

    cases = [BenchCase("pytorch", "fp32", "image", 2, runner("pt"), batch=0),
             BenchCase("onnxruntime-cpu", "fp32", "image", 2, runner("ort"), batch=0),
             BenchCase("onnxruntime-cpu", "int8", "image", 2, broken, batch=0),
             BenchCase("tensorrt", "fp16", "image", 2, skipped="no GPU")]
    rows = run_interleaved(cases, TimingConfig(warmup=1, iters=4, min_iters=4), progress=False)
    timed = calls[2:]  # after one warm-up each
    assert sorted(timed) == ["ort"] * 4 + ["pt"] * 4
    assert all(timed[i] != timed[i + 1] for i in range(0, 8, 2))  # each round runs both once
    assert timed[0:2] == ["pt", "ort"] and timed[2:4] == ["ort", "pt"]  # the order rotates
    status = {(r["backend"], r["precision"]): r for r in rows}
    assert status[("onnxruntime-cpu", "int8")]["status"] == "failed"
    assert "kernel missing" in status[("onnxruntime-cpu", "int8")]["reason"]
    assert status[("tensorrt", "fp16")]["status"] == "skipped" and status[("tensorrt", "fp16")]["reason"] == "no GPU"
    assert status[("pytorch", "fp32")]["ratio_vs_pytorch"] == 1.0
    assert status[("onnxruntime-cpu", "fp32")]["iters"] == 4


def test_ratio_uses_the_best_pytorch_row_of_the_group():
    rows = [{"backend": "pytorch", "precision": "fp32", "encoder": "image", "batch_size": 8, "status": "ok", "throughput": 10.0},
            {"backend": "pytorch+compile", "precision": "fp32", "encoder": "image", "batch_size": 8, "status": "ok", "throughput": 20.0},
            {"backend": "onnxruntime-cpu", "precision": "int8", "encoder": "image", "batch_size": 8, "status": "ok", "throughput": 70.0},
            {"backend": "onnxruntime-cpu", "precision": "int8", "encoder": "image", "batch_size": 1, "status": "ok", "throughput": 7.0}]
    add_ratios(rows)
    assert rows[2]["ratio_vs_pytorch"] == 3.5 and rows[2]["baseline"] == "pytorch+compile/fp32"
    assert rows[0]["ratio_vs_pytorch"] == 0.5
    assert rows[3]["ratio_vs_pytorch"] is None  # no PyTorch row at batch 1: no made-up ratio


def test_numpy_topk_and_recall():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((500, 16)).astype(np.float32)
    queries = rng.standard_normal((7, 16)).astype(np.float32)
    top = numpy_topk(queries, base, 5)
    assert np.array_equal(top, np.argsort(-(queries @ base.T), axis=1)[:, :5])
    truth = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    assert recall_at_k(np.array([[4, 3, 9, 9], [5, 6, 7, 8]]), truth) == pytest.approx((2 / 4 + 4 / 4) / 2)


def test_clustered_vectors_are_unit_norm_and_clustered():
    gen = ClusteredVectors(dim=64, anchors=None, intrinsic_dim=8, seed=0)
    x = gen.sample(2000, seed=1)
    assert np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    # Nearest neighbours are much closer than random pairs (unlike uniform random vectors).
    sims = x[:100] @ x.T
    np.fill_diagonal(sims[:, :100], -1)
    assert np.median(sims.max(1)) > np.median(np.abs(x[:100] @ x[100:200].T)) + 0.3


def test_targets_report_met_missed_and_not_measured():
    def row(backend, precision, encoder, bs, thr, ratio, overloaded=False):
        return {"backend": backend, "precision": precision, "encoder": encoder, "batch_size": bs, "status": "ok",
                "throughput": thr, "ratio_vs_pytorch": ratio, "baseline": "pytorch/fp32",
                "load_before": 3.5 if overloaded else 0.5, "load_after": 1.0, "cpus": 2, "overloaded": overloaded}

    report = {"rows": [row("onnxruntime-cpu", "fp32", "image", 32, 9.3, 0.95), row("onnxruntime-cpu", "int8", "image", 32, 13.0, 3.7, True),
                       row("onnxruntime-cpu", "fp32", "recipe", 1, 16.0, 1.6), row("onnxruntime-cpu", "fp32", "recipe", 128, 72.0, 0.72),
                       {"backend": "tensorrt", "precision": "fp16", "encoder": "image", "batch_size": 8, "status": "skipped",
                        "reason": "no GPU here"}],
              "e2e": [{"path": "sdk-search-files", "fraction_of_raw": 0.95, "precision": "fp32", "batch_size": 64},
                      {"path": "sdk-embed-arrays", "overhead_pct": 12.0, "precision": "fp32", "batch_size": 64},
                      {"path": "sdk-embed-recipes", "fraction_of_raw": 0.8, "throughput": 80.0, "raw_throughput": 100.0,
                       "precision": "fp32", "batch_size": 32}]}
    got = {t["target"]: t for t in latency_targets(report)}
    assert got["image: ORT fp32 within 10% of best PyTorch"]["status"] == MET
    int8 = got["image: int8 >= 1.3x ORT fp32 at batch 32"]
    assert int8["status"] == MET and int8["overloaded"] and "under load: 3.5 > 2 CPUs" in int8["detail"]  # 13.0 / 9.3 = 1.40
    assert got["recipe: >= 1.5x PyTorch at batch 1"]["status"] == MET
    # Batch 256 was not run: the batch-128 row must not stand in for it.
    assert got["recipe: >= 1.2x PyTorch at batch 256"]["status"] == NOT_MEASURED
    assert "batch 256 not measured" in got["recipe: >= 1.2x PyTorch at batch 256"]["detail"]
    assert got["embed_recipes >= 90% of the recipe graph's throughput at batch 64"]["status"] == NOT_MEASURED
    assert got["SDK overhead of embed_images (arrays) over the raw session < 10%"]["status"] == MISSED
    gpu = [t for t in got.values() if t["target"].startswith("GPU")][0]
    assert gpu["status"] == NOT_MEASURED and "no GPU here" in gpu["detail"]
    report["rows"][1]["batch_size"] = 8  # int8 only at batch 8: not graded from it
    assert {t["target"]: t for t in latency_targets(report)}["image: int8 >= 1.3x ORT fp32 at batch 32"]["status"] == NOT_MEASURED


def _search_row(n, method, qps, recall, numpy_qps, setting="", overloaded=False):
    return {"n": n, "method": method, "setting": setting, "status": "ok", "qps": qps, "recall_at_k": recall,
            "ram_gib_per_million": 1.0, "qps_vs_numpy": round(qps / numpy_qps, 2), "overloaded": overloaded,
            "load_before": 1.0, "load_after": 1.0, "cpus": 2}


def test_search_targets_grade_only_the_scale_they_name():
    rows = [_search_row(100_000, "numpy-fp32", 200.0, 1.0, 200.0), _search_row(100_000, "sdk-exact-fp32", 260.0, 1.0, 200.0),
            _search_row(100_000, "sdk-exact-int8", 500.0, 0.995, 200.0)]
    got = {t["target"]: t for t in search_targets({"vectors": "test", "rows": rows})}
    assert got["exact search >= 1.2x numpy at 100,000 (recall@10 >= 0.99)"]["status"] == MET  # int8 2.5x
    # A 100k run says nothing about 1M: not "met at a smaller scale", not measured.
    assert got["exact search >= 2.0x numpy at 1,000,000 (recall@10 >= 0.99)"]["status"] == NOT_MEASURED
    assert got["ANN at 1,000,000: recall@10 >= 0.95 at >= 50x the exact index's QPS"]["status"] == NOT_MEASURED
    assert got["every exact kind: recall@10 >= 0.99 at every scale"]["status"] == MET

    top = [_search_row(1_000_000, "numpy-fp32", 20.0, 1.0, 20.0), _search_row(1_000_000, "sdk-exact-fp32", 30.0, 1.0, 20.0),
           _search_row(1_000_000, "sdk-exact-int8", 45.0, 0.985, 20.0),
           _search_row(1_000_000, "sdk-hnsw", 2000.0, 0.94, 20.0, "ef_search=128"),
           _search_row(1_000_000, "sdk-hnsw", 1600.0, 0.96, 20.0, "ef_search=256", overloaded=True)]
    got = {t["target"]: t for t in search_targets({"vectors": "test", "rows": top})}
    assert got["exact search >= 2.0x numpy at 1,000,000 (recall@10 >= 0.99)"]["status"] == MISSED  # int8's recall < 0.99
    assert got["every exact kind: recall@10 >= 0.99 at every scale"]["status"] == MISSED
    ann = got["ANN at 1,000,000: recall@10 >= 0.95 at >= 50x the exact index's QPS"]
    assert ann["status"] == MET and "ef_search=256" in ann["detail"] and ann["overloaded"]  # 1600 / 30 = 53x


def test_markdown_table_right_aligns_numbers():
    table = md_table(["name", "qps"], [["numpy", "374.0"], ["faiss", "90.5"]]).splitlines()
    assert table[1] == "| --- | ---: |"


def test_bucketing_keeps_embeddings_and_order(tiny_bundle, tiny_data):
    from benchmarks.cases import bucketed
    from benchmarks.inputs import read_recipes, sdk_recipe_batch
    from seje_sdk import Retriever

    r = Retriever.load(tiny_bundle, backend="onnxruntime", precision="fp32")
    recipes, _ = read_recipes(tiny_data, "test", limit=16)
    batch = sdk_recipe_batch(r, recipes)
    run = lambda b: r.sessions["recipe"].run(b.feeds())["embedding"]  # noqa: E731
    plain, grouped = run(batch), bucketed(run, buckets=4)(batch)
    # Padding must not change a recipe's embedding, so bucketing is a pure speed-up.
    np.testing.assert_allclose(grouped, plain, atol=1e-5)


def test_bad_inputs_fail_cleanly_naming_the_input(tmp_path):
    from benchmarks.cli import main

    runner = CliRunner()
    not_a_bundle = tmp_path / "empty"
    not_a_bundle.mkdir()
    res = runner.invoke(main, ["latency", str(not_a_bundle), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2 and "manifest.json is missing" in res.output and str(not_a_bundle) in res.output
    assert not (tmp_path / "out").exists()  # nothing written for a failed run
    res = runner.invoke(main, ["latency", str(not_a_bundle), "--batch-sizes", "1,eight"])
    assert res.exit_code == 2 and "--batch-sizes" in res.output


def test_default_out_is_outside_the_repository():
    from pathlib import Path

    from benchmarks.cli import DEFAULT_OUT

    repo = Path(__file__).resolve().parents[1]
    assert not DEFAULT_OUT.resolve().is_relative_to(repo)


@pytest.fixture(scope="module")
def quick_reports(tiny_bundle, tiny_run, tiny_data, tmp_path_factory):
    from benchmarks.cli import main

    out = tmp_path_factory.mktemp("bench")
    runner = CliRunner()
    lat = runner.invoke(main, ["latency", str(tiny_bundle), "--run", str(tiny_run), "--out", str(out), "--quick", "--threads", "1"])
    assert lat.exit_code == 0, lat.output + repr(lat.exception)
    ret = runner.invoke(main, ["retrieval", str(tiny_bundle), "--data", str(tiny_data), "--run", str(tiny_run), "--out", str(out), "--quick"])
    assert ret.exit_code == 0, ret.output + repr(ret.exception)
    return out


def test_latency_quick_report_is_complete(quick_reports):
    report = json.loads((quick_reports / "latency.json").read_text())
    assert {"environment", "config", "rows", "e2e", "targets", "command", "inputs"} <= set(report)
    assert report["environment"]["cpu_logical_cores"] >= 1 and report["environment"]["onnxruntime"]
    rows = report["rows"]
    seen = {(r["backend"], r["precision"], r["encoder"], r["batch_size"]): r for r in rows}
    for encoder in ("image", "recipe"):
        for bs in (1, 4):
            base = seen[("pytorch", "fp32", encoder, bs)]
            assert base["status"] == "ok" and base["ratio_vs_pytorch"] == 1.0
            ort = seen[("onnxruntime-cpu", "fp32", encoder, bs)]
            assert ort["status"] == "ok" and ort["ratio_vs_pytorch"] > 0 and ort["p50_ms"] <= ort["p99_ms"]
            for backend, precision in GPU_ROWS:  # never silently missing
                gpu = seen[(backend, precision, encoder, bs)]
                assert gpu["status"] in ("skipped", "ok") and (gpu["status"] == "ok" or gpu["reason"])
    paths = {r["path"] for r in report["e2e"]}
    assert {"sdk-embed-arrays", "sdk-search-files", "sdk-search-files-before", "sdk-embed-recipes"} <= paths
    assert {r["raw_path"] for r in report["e2e"]} <= {"raw-session", "raw-session-blocking"}
    assert all(r["cpus"] >= 1 and "load_before" in r for r in rows if r["status"] == "ok")
    assert report["config"]["threads_used"] == 1
    md = (quick_reports / "latency.md").read_text()
    assert "seje-bench latency" in md and "## Targets" in md and "x PyTorch" in md and "skipped" in md
    assert "load before -> after / CPUs" in md and "under load" in md
    for name in report["files"]["plots"].values():
        assert (quick_reports / name).read_bytes()[:8] == PNG_MAGIC


def test_retrieval_quick_report_is_complete(quick_reports):
    report = json.loads((quick_reports / "retrieval.json").read_text())
    rows = {(r["backend"], r["precision"]): r for r in report["quality"]["rows"]}
    assert rows[("pytorch", "fp32")]["status"] == "ok"
    fp32 = rows[("onnxruntime-cpu", "fp32")]
    assert fp32["status"] == "ok" and fp32["cosine_vs_pytorch"]["image"]["min"] > 0.9999
    for metric in ("medr", "r1", "r5", "r10"):  # fp32 export ranks exactly like PyTorch
        assert fp32["bags"]["image_to_recipe"][metric]["mean"] == pytest.approx(
            rows[("pytorch", "fp32")]["bags"]["image_to_recipe"][metric]["mean"], abs=1e-6)
    for key in GPU_ROWS:
        assert rows[key]["status"] in ("skipped", "ok")
    methods = {r["method"]: r for r in report["search"]["rows"]}
    assert set(methods) == {"numpy-fp32", "sdk-exact-fp32", "sdk-exact-fp16", "sdk-exact-int8", "faiss-flat-ip", "sdk-hnsw", "sdk-ivf", "sdk-ivfpq"}
    assert methods["sdk-exact-fp32"]["recall_at_k"] == 1.0 and methods["numpy-fp32"]["qps_vs_numpy"] == 1.0
    assert methods["sdk-exact-int8"]["recall_at_k"] >= 0.99
    assert methods["sdk-exact-fp16"]["ram_gib_per_million"] == pytest.approx(methods["sdk-exact-fp32"]["ram_gib_per_million"] / 2, rel=0.01)
    hnsw = [r for r in report["search"]["rows"] if r["method"] == "sdk-hnsw"]
    assert [r["setting"] for r in hnsw] == ["ef_search=64", "ef_search=128", "ef_search=256", "ef_search=512"]
    ivf = [r for r in report["search"]["rows"] if r["method"] == "sdk-ivf"]
    assert [r["setting"] for r in ivf] == ["nprobe=4", "nprobe=8", "nprobe=16", "nprobe=32", "nprobe=64"] and ivf[-1]["recall_at_k"] >= 0.99
    for r in report["search"]["rows"]:  # every case records build time, peak memory and the load around it
        assert r["build_s"] >= 0 and r["peak_rss_mib"] > 0 and r["cpus"] >= 1 and isinstance(r["overloaded"], bool)
    md = (quick_reports / "retrieval.md").read_text()
    assert "## Retrieval quality per variant" in md and "## Search scaling" in md
    assert (quick_reports / "search_scaling.png").read_bytes()[:8] == PNG_MAGIC
