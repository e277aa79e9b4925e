"""What an operator fears, against `seje serve` in a subprocess (real uvicorn on 127.0.0.1, real HTTP):
a chunked over-cap body is cut off with bounded memory, a heavy request does not stall light ones,
slow and idle clients are dropped, SIGTERM with a slow client still exits 0 within --grace, keys,
Host check and offline docs."""
from __future__ import annotations

import io
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from PIL import Image
from service_support import photos_of, rss_bytes, server_log, service_index, start_serve  # noqa: F401

CAP_MB = 1.0


@pytest.fixture(scope="module")
def server(tiny_bundle, service_index, tmp_path_factory):
    """One server with small limits and short timeouts for the probes below."""
    proc, url = start_serve(tiny_bundle, service_index, "--max-upload-mb", str(CAP_MB), "--header-timeout", "1",
                            "--body-timeout", "2", "--keep-alive", "1", "--max-connections", "40",
                            "--live-dir", str(tmp_path_factory.mktemp("live")))
    yield proc, url
    proc.kill()
    proc.wait()


def _chunks(total: int, sent: list[int], piece: int = 256 * 1024):
    """A body generator (sent chunked: no Content-Length) that counts what the client managed to send."""
    while sent[0] < total:
        sent[0] += piece
        yield b"a" * piece


def _peak_rss_while(pid: int, work) -> tuple[int, int, object]:
    """(RSS before, peak RSS during, result of work()) sampling every 20 ms."""
    before, peak, done = rss_bytes(pid), [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_bytes(pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        result = work()
    finally:
        done.set()
        sampler.join()
    return before, peak[0], result


@pytest.mark.parametrize("path,multipart", [("/search/recipe", False), ("/search/image", True)])
def test_chunked_over_cap_body_is_cut_off_with_bounded_memory(server, path, multipart):
    proc, url = server
    total, sent = 200 * 1024 * 1024, [0]

    def body():
        if multipart:  # a multipart upload whose file part never ends
            yield b"--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"x.png\"\r\nContent-Type: image/png\r\n\r\n"
        yield from _chunks(total, sent)

    headers = {"content-type": "multipart/form-data; boundary=b" if multipart else "application/json"}

    def post():
        try:
            return httpx.post(url + path, content=body(), headers=headers, timeout=30)
        except httpx.TransportError as e:  # the server closed the connection after answering 413
            return e

    before, peak, res = _peak_rss_while(proc.pid, post)
    if isinstance(res, httpx.Response):
        assert res.status_code == 413 and "limit" in res.json()["error"]
    assert sent[0] < total / 4, f"the server read {sent[0]} bytes of a {total}-byte body past a {CAP_MB} MiB cap"
    assert peak - before < 64 * 1024 * 1024, f"server memory grew {(peak - before) / 2**20:.0f} MiB"
    assert httpx.get(url + "/health").status_code == 200


def _png(side: int, shade: int) -> bytes:
    """A flat PNG of side x side: a few KB to send, side * side pixels to decode."""
    buf = io.BytesIO()
    Image.new("RGB", (side, side), (shade, 80, 40)).save(buf, format="PNG")
    return buf.getvalue()


def test_heavy_request_does_not_stall_light_ones(server, tiny_data):
    _, url = server
    heavy = [("images", (f"big{i}.png", _png(2000, i), "image/png")) for i in range(32)]  # 32 x 4 Mpx
    photo = photos_of(tiny_data)[0]
    done: dict[str, float] = {}
    start = time.monotonic()

    def heavy_request():
        res = httpx.post(url + "/embed/image", files=heavy, timeout=120)
        done["heavy"] = time.monotonic()
        return res

    def light_request(i: int):
        t0 = time.monotonic()
        res = httpx.post(url + "/search/image", files={"image": (photo.name, photo.read_bytes(), "image/jpeg")}, timeout=60)
        done[f"light{i}"] = time.monotonic()
        return res, time.monotonic() - t0

    with ThreadPoolExecutor(5) as pool:
        big = pool.submit(heavy_request)
        time.sleep(0.3)  # the heavy request is being encoded
        light = [pool.submit(light_request, i) for i in range(4)]
        light = [f.result() for f in light]
        assert big.result().status_code == 200, big.result().text
        assert len(big.result().json()["embeddings"]) == 32
    assert all(res.status_code == 200 for res, _ in light)
    assert all(done[f"light{i}"] < done["heavy"] for i in range(4)), "light searches waited for the whole heavy request"
    worst = max(s for _, s in light)
    print(f"heavy request {done['heavy'] - start:.2f} s; light searches meanwhile: worst {worst * 1000:.0f} ms (target < 1 s)")


def _open(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """True when the server closes `sock` (EOF or reset) within `seconds`, draining what it sends first."""
    sock.settimeout(seconds)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            if not sock.recv(4096):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    return False


def _read_until_closed(sock: socket.socket, seconds: float) -> bytes:
    sock.settimeout(seconds)
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


def test_slow_and_idle_clients_are_dropped(server):
    _, url = server
    slow_headers, idle = _open(url), _open(url)
    slow_headers.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # ... and the rest never comes
    assert _closed_within(slow_headers, 5) and _closed_within(idle, 5)

    slow_body = _open(url)
    slow_body.sendall(b"POST /search/recipe HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 1000\r\n\r\n{\"recipe\":")
    answer = _read_until_closed(slow_body, 6)  # the answer, then the server closes the connection
    assert b" 408 " in answer.split(b"\r\n")[0] and b"did not arrive within" in answer


def test_connection_cap_refuses_extra_connections(server):
    _, url = server
    held = [_open(url) for _ in range(40)]
    try:
        assert b" 503 " in _read_until_closed(_open(url), 5).split(b"\r\n")[0]
    finally:
        for s in held:
            s.close()


def test_sigterm_with_a_slow_client_exits_0_within_grace(tiny_bundle, service_index, tmp_path):
    proc, url = start_serve(tiny_bundle, service_index, "--grace", "2", "--body-timeout", "60",
                            "--live-dir", str(tmp_path / "live"))
    slow = _open(url)
    slow.sendall(b"POST /search/recipe HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1000\r\n\r\n{")
    time.sleep(0.5)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(20)
    finally:
        proc.kill()
    took = time.monotonic() - t0
    log = server_log(proc)
    assert code == 0, log
    assert took < 2 + 5, f"shutdown took {took:.1f} s with --grace 2"
    assert "Traceback" not in log and "CancelledError" not in log, log


def test_keys_hosts_and_offline_docs(tiny_bundle, service_index, tmp_path):
    (tmp_path / "keys").write_text("# service keys\nfirst-key-123\nsecond-key-456\n")
    proc, url = start_serve(tiny_bundle, service_index, "--api-key-file", str(tmp_path / "keys"),
                            "--live-dir", str(tmp_path / "live"))
    recipe = {"recipe": {"instructions": ["Bake the bread."]}, "k": 2}
    try:
        for path in ("/health", "/ready", "/", "/docs"):
            assert httpx.get(url + path).status_code == 200, path
        for method, path in (("POST", "/search/recipe"), ("GET", "/metrics"), ("GET", "/openapi.json"),
                             ("GET", "/items/recipe/x"), ("DELETE", "/items/recipe/x"), ("GET", "/thumbnail")):
            res = httpx.request(method, url + path, json=recipe if method == "POST" else None)
            assert res.status_code == 401 and "API key" in res.json()["error"], (path, res.text)
        assert httpx.post(url + "/search/recipe", json=recipe, headers={"X-API-Key": "wrong"}).status_code == 401
        assert httpx.post(url + "/search/recipe", json=recipe, headers={"Authorization": "Bearer first-key-123"}).status_code == 200
        assert httpx.post(url + "/search/recipe", json=recipe, headers={"X-API-Key": "second-key-456"}).status_code == 200
        assert httpx.get(url + "/health", headers={"Host": "evil.example"}).status_code == 400  # DNS rebinding
        assert httpx.get(url + "/health", headers={"Host": "localhost:1"}).status_code == 200
        docs = httpx.get(url + "/docs").text
        assert "/openapi.json" in docs and "cdn" not in docs.lower() and "https://" not in docs
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
