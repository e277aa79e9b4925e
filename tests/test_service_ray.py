"""The service as a Ray Serve deployment on a local 2-CPU Ray (skipped, visibly, where Ray Serve cannot import)."""
from __future__ import annotations

import socket
import time

import httpx
import pytest
from service_support import photos_of, service_index, shared_retriever  # noqa: F401

from seje_sdk.service import ServiceConfig


def test_ray_serve_deployment_answers_like_the_sdk(tiny_bundle, tiny_data, service_index, shared_retriever):
    serve = pytest.importorskip("ray.serve", reason="Ray Serve does not import here (pip install 'ray[serve]')")
    import ray

    from seje_sdk.service.ray_serve import seje_deployment

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(seje_deployment(ServiceConfig(str(tiny_bundle), str(service_index), backend="onnxruntime")).bind(),
                  name="seje", route_prefix="/")
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while httpx.get(url + "/ready", timeout=5).status_code != 200:
            assert time.monotonic() < deadline, "the Ray Serve replica did not become ready"
            time.sleep(0.5)
        photo = photos_of(tiny_data)[0]
        res = httpx.post(url + "/search/image", files={"image": (photo.name, photo.read_bytes(), "image/jpeg")}, timeout=60)
        assert res.status_code == 200, res.text
        assert [h["id"] for h in res.json()["hits"]] == [i for i, _ in shared_retriever.search(images=[photo], k=5)[0]]
    finally:
        serve.shutdown()
        ray.shutdown()
