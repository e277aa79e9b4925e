"""Live updates that survive kill -9: the SDK's upsert/delete persist and replay, compaction swaps
versions; over HTTP, several writers stream PUTs and DELETEs, the server is SIGKILLed mid-stream
(at several points, with compactions running), restarted, and every acknowledged write is there."""
from __future__ import annotations

import json
import shutil
import signal
import threading
import time

import httpx
import numpy as np
import pytest
from service_support import photos_of, service_index, start_serve, titles  # noqa: F401

from seje_sdk.errors import InputError
from seje_sdk.retriever import Retriever


def _recipe(n: int) -> dict:
    return {"title": f"Live dish {n}", "ingredients": ["salt", "butter"], "instructions": [f"Bake it for {n} minutes.", "Serve."]}


@pytest.fixture()
def index_copy(service_index, tmp_path):
    return shutil.copytree(service_index, tmp_path / "index")


def test_sdk_upsert_delete_persist_replay_and_compact(tiny_bundle, tiny_data, index_copy, tmp_path):
    live_dir = tmp_path / "live"
    r = Retriever.load(tiny_bundle, backend="onnxruntime")
    with pytest.raises(InputError, match="open_live"):
        r.upsert("recipe", _recipe(1), id="new-1")
    r.open_live(index_copy, live_dir)
    size = r.info()["index"]["recipe"]
    photo = photos_of(tiny_data)[0]
    first = next(iter(titles(tiny_data)))
    record = r.upsert("recipe", _recipe(1), id="new-1")
    assert record["title"] == "Live dish 1" and record["written_at"] > 0
    assert r.upsert("image", photo, id="upload-1", recipe_id=first)["title"] == titles(tiny_data)[first]
    assert r.delete("recipe", first) and not r.delete("recipe", "never-there")
    # read your writes: the new recipe is its own nearest neighbour, the deleted one is gone
    own = r.embed_recipes([_recipe(1)])
    hits = r.search_vectors(own, "recipe", k=size)[0]
    assert hits[0][0] == "new-1" and first not in [i for i, _ in hits] and len(hits) == size
    r.close()

    again = Retriever.load(tiny_bundle, backend="onnxruntime")
    live = again.open_live(index_copy, live_dir)  # replays the log
    assert live.get("recipe", "new-1")["title"] == "Live dish 1" and live.get("recipe", first) is None
    assert again.search_vectors(own, "recipe", k=1)[0][0][0] == "new-1"
    version = live.compact()
    assert (live_dir / "CURRENT").read_text().strip() == version.name and live.log.since(0) == []
    again.upsert("recipe", _recipe(2), id="new-2")  # after compaction: logged on top of the new version
    again.close()

    third = Retriever.load(tiny_bundle, backend="onnxruntime")
    live = third.open_live(index_copy, live_dir)
    assert live.version_dir() == version and {"new-1", "new-2"} <= live.modalities["recipe"]._id_set
    assert first not in live.modalities["recipe"]._id_set and live.get("image", "upload-1")["recipe_id"] == first
    assert third.info()["index"]["recipe"] == size + 1
    np.testing.assert_allclose(third.search_vectors(own, "recipe", k=1)[0][0][1], 1.0, atol=1e-4)
    third.close()
    assert json.loads((index_copy / "manifest.json").read_text())  # the original index is untouched and still loads


def _writer(url: str, name: str, acked: dict, stop: threading.Event) -> None:
    """PUT recipes (and DELETE every third acknowledged one) until the server dies; record what got a 200."""
    with httpx.Client(base_url=url, timeout=30) as client:
        n = 0
        while not stop.is_set():
            item = f"{name}-{n}"
            try:
                if n % 3 == 2 and acked["put"]:
                    victim = f"{name}-{n - 1}"
                    if victim in acked["put"]:
                        acked["tried"].add(victim)  # a delete whose answer never came may or may not have happened
                        if client.delete(f"/items/recipe/{victim}").status_code == 200:
                            acked["delete"].add(victim)
                if client.put(f"/items/recipe/{item}", json=_recipe(n)).status_code == 200:
                    acked["put"].add(item)
            except httpx.TransportError:
                return  # the server was killed
            n += 1


@pytest.mark.parametrize("kill_after", [0.7, 2.0, 4.0])
def test_acknowledged_writes_survive_sigkill(tiny_bundle, tiny_data, index_copy, tmp_path, kill_after):
    live_dir = tmp_path / "live"
    args = ("--live-dir", str(live_dir), "--compact-every", "9", "--max-wait-ms", "1", "--max-k", "100000")
    proc, url = start_serve(tiny_bundle, index_copy, *args)
    acked: dict[str, set] = {"put": set(), "delete": set(), "tried": set()}
    stop = threading.Event()
    writers = [threading.Thread(target=_writer, args=(url, f"w{i}", acked, stop)) for i in range(4)]
    for w in writers:
        w.start()
    time.sleep(kill_after)
    proc.send_signal(signal.SIGKILL)  # mid-stream: requests in flight, maybe a compaction half-written
    proc.wait()
    stop.set()
    for w in writers:
        w.join(30)
    assert acked["put"], "no write was acknowledged before the kill"

    proc, url = start_serve(tiny_bundle, index_copy, *args)  # the index loads: replay of the log over the newest version
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            size = client.get("/ready").json()["index"]["recipe"]
            photo = photos_of(tiny_data)[0]
            hits = client.post("/search/image", files={"image": (photo.name, photo.read_bytes(), "image/jpeg")},
                               data={"k": str(size)}).json()["hits"]
            searchable = {h["id"] for h in hits}
            for item in acked["put"] - acked["tried"]:
                got = client.get(f"/items/recipe/{item}")
                assert got.status_code == 200, f"acknowledged write {item} lost: {got.text}"
                assert got.json()["title"].startswith("Live dish") and item in searchable
            for item in acked["delete"]:
                assert client.get(f"/items/recipe/{item}").status_code == 404, f"acknowledged delete of {item} lost"
                assert item not in searchable
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    print(f"kill after {kill_after} s: {len(acked['put'])} puts and {len(acked['delete'])} deletes acknowledged, all present")


def test_http_writes_are_read_back_and_searchable(tiny_bundle, tiny_data, index_copy, tmp_path):
    proc, url = start_serve(tiny_bundle, index_copy, "--live-dir", str(tmp_path / "live"), "--max-k", "100000")
    photo = photos_of(tiny_data)[0]
    owner = next(iter(titles(tiny_data)))
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            res = client.put("/items/image/upload-1", files={"file": ("p.jpg", photo.read_bytes(), "image/jpeg")},
                             data={"recipe_id": owner})
            assert res.status_code == 200 and res.json()["title"] == titles(tiny_data)[owner], res.text
            size = client.get("/ready").json()["index"]["image"]
            hits = client.post("/search/recipe", json={"recipe": _recipe(1), "k": size}).json()["hits"]
            mine = next(h for h in hits if h["id"] == "upload-1")  # read your write: searchable at once
            assert mine["title"] == titles(tiny_data)[owner]
            assert client.get("/items/image/upload-1").json()["recipe_id"] == owner
            assert client.delete("/items/image/upload-1").status_code == 200
            assert client.get("/items/image/upload-1").status_code == 404
            assert client.delete("/items/image/upload-1").status_code == 404
            hits = client.post("/search/recipe", json={"recipe": _recipe(1), "k": size - 1}).json()["hits"]
            assert "upload-1" not in {h["id"] for h in hits}
            bad = client.put("/items/recipe/x", json={"title": "no steps", "ingredients": 5})
            assert bad.status_code == 422 and "ingredients" in bad.json()["error"]
            assert client.get("/items/video/x").status_code == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
