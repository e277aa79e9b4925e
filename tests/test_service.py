"""The retrieval service over real HTTP (httpx -> uvicorn on 127.0.0.1): answers equal the SDK's,
limits answer 4xx JSON, requests are batched, 503 while loading, graceful shutdown."""
from __future__ import annotations

import io
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from PIL import Image
from service_support import photo_owners, photos_of, service_index, shared_retriever, titles  # noqa: F401

from seje_sdk.catalog import read_catalog
from seje_sdk.service import ServiceConfig
from seje_sdk.service.server import ServiceThread

LIMITS = dict(max_upload_bytes=300_000, max_pixels=1_000_000, max_k=20, max_items=4)


@pytest.fixture(scope="module")
def service(tiny_bundle, service_index, shared_retriever):
    config = ServiceConfig(str(tiny_bundle), str(service_index), max_wait_ms=30, **LIMITS)
    with ServiceThread(config, loader=lambda cfg: (shared_retriever, read_catalog(cfg.index)), owns_retriever=False) as svc:
        with httpx.Client(base_url=svc.url, timeout=60) as client:
            yield client


def search_photo(client: httpx.Client, path, k: int = 5) -> httpx.Response:
    return client.post("/search/image", files={"image": (path.name, path.read_bytes(), "image/jpeg")}, data={"k": str(k)})


def same_hits(got: list[dict], want: list[tuple], tol: float = 1e-4) -> None:
    """Scores equal within `tol`; ids equal wherever the ranking is not a near-tie."""
    scores = np.array([h["score"] for h in got])
    np.testing.assert_allclose(scores, [s for _, s in want], atol=tol)
    for n, (h, (i, s)) in enumerate(zip(got, want)):
        neighbours = [want[m][1] for m in (n - 1, n + 1) if 0 <= m < len(want)]
        if all(abs(s - o) > tol for o in neighbours):
            assert h["id"] == i


def test_search_image_equals_sdk_with_titles_and_thumbnails(service, shared_retriever, tiny_data):
    names = titles(tiny_data)
    for path in photos_of(tiny_data)[:3]:
        res = search_photo(service, path, k=5)
        assert res.status_code == 200, res.text
        body = res.json()
        assert body["query"] == "image" and body["target"] == "recipe"
        want = shared_retriever.search(images=[path], k=5)[0]
        assert [h["id"] for h in body["hits"]] == [i for i, _ in want]  # a batch of one: exactly the SDK's answer
        np.testing.assert_allclose([h["score"] for h in body["hits"]], [s for _, s in want], atol=1e-6)
        assert [h["title"] for h in body["hits"]] == [names[i] for i, _ in want]
    thumb = service.get(body["hits"][0]["thumbnail"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(thumb.content)).size[0] <= 160


def test_search_recipe_and_embed_equal_sdk(service, shared_retriever, tiny_data):
    recipe = json.loads((tiny_data / "layer1.json").read_text())[0]
    plain = {"title": recipe["title"], "ingredients": [x["text"] for x in recipe["ingredients"]],
             "instructions": recipe["instructions"]}  # Recipe1M {"text": ...} items are accepted too
    res = service.post("/search/recipe", json={"recipe": plain, "k": 3})
    assert res.status_code == 200, res.text
    want = shared_retriever.search(recipes=[recipe], k=3)[0]
    same_hits(res.json()["hits"], want, tol=1e-6)
    owners, names = photo_owners(tiny_data), titles(tiny_data)
    assert all(h["title"] == names[owners[h["id"]]] and h["thumbnail"] for h in res.json()["hits"])  # a photo: its recipe's title

    emb = service.post("/embed/recipe", json={"recipes": [plain, plain]}).json()
    np.testing.assert_allclose(emb["embeddings"], shared_retriever.embed_recipes([recipe, recipe]), atol=1e-5)
    photos = photos_of(tiny_data)[:2]
    emb = service.post("/embed/image", files=[("images", (p.name, p.read_bytes(), "image/jpeg")) for p in photos]).json()
    np.testing.assert_allclose(emb["embeddings"], shared_retriever.embed_images(photos), atol=1e-5)


def _png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("files,data,status,words", [
    ({"image": ("a.jpg", b"", "image/jpeg")}, {}, 422, "empty upload"),
    ({"image": ("a.jpg", b"this is not a picture", "image/jpeg")}, {}, 422, "not a readable image"),
    ({"image": ("big.png", _png(1200, 1000), "image/png")}, {}, 413, "pixel limit"),
    ({"image": ("huge.bin", b"\xff" * 400_000, "image/jpeg")}, {}, 413, "limit is 300000"),
    ({"photo": ("a.jpg", _png(8, 8), "image/png")}, {}, 422, "body.image: Field required"),
    ({"image": ("a.png", _png(8, 8), "image/png")}, {"k": "0"}, 422, "body.k"),
    ({"image": ("a.png", _png(8, 8), "image/png")}, {"k": "21"}, 422, "k=21 is too large"),
])
def test_bad_uploads_get_clear_4xx_json(service, files, data, status, words):
    res = service.post("/search/image", files=files, data=data)
    assert res.status_code == status, res.text
    assert words in res.json()["error"] and "Traceback" not in res.text


@pytest.mark.parametrize("body,status,words", [
    (b'{"recipe": {"instructions": ["Bake."]', 400, "malformed JSON"),
    (b'{"recipe": {"instructions": ["Bake."], "colour": "red"}}', 422, "body.recipe.colour: Extra inputs are not permitted"),
    (b'{"recipe": {"instructions": ["Bake."]}, "top": 3}', 422, "body.top: Extra inputs are not permitted"),
    (b'{"recipe": {"instructions": []}}', 422, "recipe: empty recipe"),
    (b'{"recipe": {"instructions": ["Bake."]}, "k": 500}', 422, "k=500 is too large"),
    (b'{"recipe": {"instructions": ["Bake."]}, "k": "many"}', 422, "body.k"),
])
def test_bad_json_gets_clear_4xx(service, body, status, words):
    res = service.post("/search/recipe", content=body, headers={"content-type": "application/json"})
    assert res.status_code == status, res.text
    assert words in res.json()["error"] and "Traceback" not in res.text


def test_item_count_k_and_catalog_limits(service):
    too_many = {"recipes": [{"instructions": ["Bake."]}] * 5}
    res = service.post("/embed/recipe", json=too_many)
    assert res.status_code == 413 and "limit is 4" in res.json()["error"]
    res = service.get("/thumbnail", params={"modality": "image", "id": "/etc/passwd"})
    assert res.status_code == 404 and "index catalog" in res.json()["error"]  # only indexed photos are served
    assert service.get("/no/such/page").status_code == 404


def test_concurrent_requests_are_batched_and_answer_alike(service, tiny_data):
    photos = photos_of(tiny_data)[:16]
    alone = [search_photo(service, p).json()["hits"] for p in photos]
    with ThreadPoolExecutor(16) as pool:
        together = list(pool.map(lambda p: search_photo(service, p), photos))
    assert all(r.status_code == 200 for r in together)
    for got, want in zip(together, alone):
        same_hits(got.json()["hits"], [(h["id"], h["score"]) for h in want])
    metrics = service.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert 'seje_requests_total{endpoint="/search/image",status="200"}' in text
    assert "seje_request_latency_seconds_bucket" in text
    count = float(next(l.split()[-1] for l in text.splitlines() if l.startswith('seje_batch_size_count{kind="image"}')))
    assert count < len(alone) + len(photos)  # some of the 16 concurrent requests shared an encoder call


def test_health_ready_and_openapi(service):
    assert service.get("/health").json() == {"status": "ok"}
    ready = service.get("/ready").json()
    assert ready["status"] == "ready" and ready["index"]["recipe"] > 0 and ready["index"]["image"] > 0
    paths = service.get("/openapi.json").json()["paths"]
    assert {"/search/image", "/search/recipe", "/embed/image", "/embed/recipe", "/health", "/ready"} <= set(paths)


def test_503_while_loading(tiny_bundle, service_index, shared_retriever):
    release = threading.Event()

    def slow_loader(cfg):
        release.wait(30)
        return shared_retriever, read_catalog(cfg.index)

    svc = ServiceThread(ServiceConfig(str(tiny_bundle), str(service_index)), loader=slow_loader, owns_retriever=False).start()
    try:
        assert httpx.get(svc.url + "/health").status_code == 200
        assert httpx.get(svc.url + "/ready").status_code == 503
        res = httpx.post(svc.url + "/search/recipe", json={"recipe": {"instructions": ["Bake."]}})
        assert res.status_code == 503 and "loading" in res.json()["error"] and res.headers["retry-after"] == "1"
        release.set()
        svc.wait_ready()
        assert httpx.get(svc.url + "/ready").status_code == 200
    finally:
        release.set()
        svc.stop()


def test_shutdown_finishes_the_request_in_flight(tiny_bundle, service_index, shared_retriever, tiny_data):
    photo = photos_of(tiny_data)[0]
    config = ServiceConfig(str(tiny_bundle), str(service_index), max_wait_ms=1500)  # the request waits in the batch window
    svc = ServiceThread(config, loader=lambda cfg: (shared_retriever, read_catalog(cfg.index)), owns_retriever=False)
    svc.start()
    svc.wait_ready()
    answer: list = []
    client = threading.Thread(target=lambda: answer.append(search_photo(httpx.Client(base_url=svc.url, timeout=30), photo)))
    client.start()
    time.sleep(0.5)  # the request is queued, its batch not yet run
    svc.stop()
    client.join(30)
    assert answer and answer[0].status_code == 200 and len(answer[0].json()["hits"]) == 5
    with pytest.raises(httpx.ConnectError):
        httpx.get(svc.url + "/health", timeout=2)


def test_search_text_equals_sdk_and_reports_unknown_words(service, shared_retriever, tiny_data):
    title = next(iter(titles(tiny_data).values()))
    res = service.post("/search/text", json={"text": f"{title} zzqxv", "k": 5})
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["query"] == "text" and body["target"] == "image" and body["unknown_words"] == ["zzqxv"]
    want = shared_retriever.search(text=f"{title} zzqxv", k=5)
    assert want.unknown_words == [["zzqxv"]]
    same_hits(body["hits"], want[0])
    assert all(h["thumbnail"] for h in body["hits"])
    from typo_support import misspelt

    typed, typo, word = misspelt(title, shared_retriever.tables.vocab)
    body = service.post("/search/text", json={"text": typed, "k": 5}).json()
    assert body["substitutes"] == {typo: word}  # read as the word it is spelt like, and said so
    same_hits(body["hits"], shared_retriever.search(text=title, k=5)[0])


@pytest.mark.parametrize("payload, status, message", [
    ({"text": "   "}, 422, "text: empty text"),
    ({"text": "zzqxv blorpf"}, 422, "none of the words"),
    ({"text": 5}, 422, "text"),
    ({"text": "soup", "k": 0}, 422, "k"),
])
def test_search_text_refuses_bad_text(service, payload, status, message):
    res = service.post("/search/text", json=payload)
    assert res.status_code == status and message in res.json()["error"], res.text


def test_partial_recipe_is_a_query_and_an_empty_one_is_refused(service, shared_retriever, tiny_data):
    recipe = json.loads((tiny_data / "layer1.json").read_text())[0]
    partial = {"ingredients": [x["text"] for x in recipe["ingredients"]]}
    res = service.post("/search/recipe", json={"recipe": partial, "k": 5})
    assert res.status_code == 200, res.text
    same_hits(res.json()["hits"], shared_retriever.search(recipes=[partial], k=5)[0])
    res = service.post("/search/recipe", json={"recipe": {"title": " "}, "k": 5})
    assert res.status_code == 422 and "empty recipe" in res.json()["error"], res.text


def test_cors_preflight_and_docs_off(tiny_bundle, service_index, shared_retriever, tmp_path):
    config = ServiceConfig(str(tiny_bundle), str(service_index), cors_origins=("https://app.example",), docs=False,
                           api_keys=("k-123",), live_dir=str(tmp_path / "live"))
    with ServiceThread(config, loader=lambda cfg: (shared_retriever, read_catalog(cfg.index)), owns_retriever=False) as svc:
        preflight = httpx.options(svc.url + "/search/recipe", headers={
            "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key,content-type"})
        assert preflight.status_code == 200  # no key needed for the browser's preflight
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        other = httpx.options(svc.url + "/search/recipe", headers={"Origin": "https://evil.example",
                                                                   "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in other.headers
        assert httpx.get(svc.url + "/docs").status_code == 404
        assert httpx.get(svc.url + "/openapi.json", headers={"X-API-Key": "k-123"}).status_code == 404
