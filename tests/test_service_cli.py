"""`seje index build` writes the catalog, `seje search` prints titles, `seje serve` runs, stops on SIGTERM
after answering the request in flight, and exits 2 when the bundle cannot load."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time

import httpx
import pytest
from click.testing import CliRunner
from service_support import SEJE, free_port, photo_owners, photos_of, service_index, start_serve, titles  # noqa: F401

from seje_sdk.catalog import read_catalog
from seje_sdk.cli import main


def test_index_build_writes_catalog_and_search_prints_titles(tiny_bundle, tiny_data, service_index):
    catalog = read_catalog(service_index)
    names = titles(tiny_data)
    recipe_rows = [row for (modality, _), row in catalog.items() if modality == "recipe"]
    assert len(recipe_rows) == len(names) and all(row["title"] == names[row["id"]] for row in recipe_rows)
    assert all(os.path.isfile(row["path"]) for row in recipe_rows)  # each recipe's photo, found through layer2.json
    photo = photos_of(tiny_data)[0]
    row = catalog[("image", photo.name)]  # the id is the file name, never a server path
    owner = photo_owners(tiny_data)[photo.name]
    assert row["path"] == str(photo.resolve()) and row["recipe_id"] == owner and row["title"] == names[owner]
    stored = [json.loads(line) for line in (service_index / "catalog.jsonl").read_text().splitlines()]
    assert stored[0] == {"root": str(tiny_data.resolve())}
    assert all(not os.path.isabs(r.get("path", "")) and ".." not in r.get("path", "") for r in stored[1:])

    res = CliRunner().invoke(main, ["search", str(tiny_bundle), "--index", str(service_index), "--image", str(photo),
                                    "-k", "3", "--json", "--backend", "onnxruntime"], catch_exceptions=False)
    hits = json.loads(res.output)[0]
    assert [h["title"] for h in hits] == [names[h["id"]] for h in hits]
    res = CliRunner().invoke(main, ["search", str(tiny_bundle), "--index", str(service_index), "--image", str(photo),
                                    "-k", "3", "--backend", "onnxruntime"], catch_exceptions=False)
    header, first = res.output.splitlines()[0], res.output.splitlines()[2]
    assert header.split() == ["rank", "id", "score", "title"] and first.endswith(names[hits[0]["id"]])


def test_serve_answers_then_stops_gracefully_on_sigterm_with_exit_0(tiny_bundle, tiny_data, service_index, tmp_path):
    proc, url = start_serve(tiny_bundle, service_index, "--max-wait-ms", "1500", "--live-dir", str(tmp_path / "live"))
    try:
        photo = photos_of(tiny_data)[0]
        answer: list = []
        client = threading.Thread(target=lambda: answer.append(httpx.post(
            url + "/search/image", files={"image": (photo.name, photo.read_bytes(), "image/jpeg")}, timeout=30)))
        client.start()
        time.sleep(0.5)  # the request waits in its batch window
        proc.send_signal(signal.SIGTERM)
        client.join(30)
        assert proc.wait(30) == 0  # drained, then a normal exit (not -15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert answer and answer[0].status_code == 200
    assert photo_owners(tiny_data)[photo.name] in titles(tiny_data)  # sanity: the photo belongs to an indexed recipe
    assert len(answer[0].json()["hits"]) == 5


def test_serve_exits_2_when_the_bundle_cannot_load(tmp_path):
    (tmp_path / "bundle").mkdir()
    proc = subprocess.run([*SEJE, "serve", str(tmp_path / "bundle"), "--port", str(free_port()), "--log-level", "warning"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "Error: " in proc.stderr and "manifest" in proc.stderr and "Traceback" not in proc.stderr


def test_bench_serve_reports_both_modes(tiny_bundle, tiny_data, service_index, tmp_path):
    from benchmarks.serve import ServeBenchConfig, run_serve_bench, serve_markdown

    cfg = ServeBenchConfig(clients=4, requests=8, rounds=1, warmup=2, max_queries=8, time_limit_s=60)
    report = run_serve_bench(str(tiny_bundle), str(service_index), str(tiny_data / "images" / "test"), cfg)
    single, batched = report["rows"]
    assert (single["batch_items"], batched["batch_items"]) == (1, cfg.batch_items)
    assert single["statuses"] == {"200": 8} and batched["statuses"] == {"200": 8}
    assert single["mean_batch_size"] == 1.0 and single["p99_ms"] >= single["p50_ms"] > 0
    from benchmarks.environment import capture_environment

    assert "| batch-1 | 1 | 0.0 | 8 |" in serve_markdown({**report, "command": "test", "environment": capture_environment()})


@pytest.mark.parametrize("bad", ["../../../../../../../../etc/passwd", "/srv/private/secret.jpg", "a/../../x.jpg"])
def test_index_build_refuses_layer2_image_ids_outside_the_data(tiny_bundle, tiny_data, tmp_path, bad):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(tiny_data / "layer1.json", data / "layer1.json")
    layer2 = json.loads((tiny_data / "layer2.json").read_text())
    layer2[3]["images"][0]["id"] = bad
    (data / "layer2.json").write_text(json.dumps(layer2))
    res = CliRunner().invoke(main, ["index", "build", str(tiny_bundle), "--recipes", str(data / "layer1.json"),
                                    "--out", str(tmp_path / "idx"), "--backend", "onnxruntime"])
    assert res.exit_code == 2, res.output
    assert repr(bad) in res.output and repr(layer2[3]["id"]) in res.output and "refusing" in res.output
    assert not (tmp_path / "idx").exists()
