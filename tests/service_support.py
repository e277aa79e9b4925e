"""Shared pieces of the service tests: an index of the tiny chain (recipes + test photos) and one loaded Retriever."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from seje_sdk.cli import main


def build_index(bundle: Path, data: Path, out: Path) -> Path:
    """`seje index build` over the tiny chain: every recipe and the test photos (writes catalog.jsonl)."""
    res = CliRunner().invoke(main, ["index", "build", str(bundle), "--recipes", str(data / "layer1.json"),
                                    "--images", str(data / "images" / "test"), "--out", str(out), "--backend", "onnxruntime"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return out


def photo_owners(data: Path) -> dict[str, str]:
    """{photo file name: recipe id} from layer2.json."""
    return {img["id"]: row["id"] for row in json.loads((data / "layer2.json").read_text()) for img in row["images"]}


def titles(data: Path) -> dict[str, str]:
    return {r["id"]: r["title"] for r in json.loads((data / "layer1.json").read_text())}


@pytest.fixture(scope="session")
def service_index(tiny_bundle, tiny_data, tmp_path_factory) -> Path:
    return build_index(tiny_bundle, tiny_data, tmp_path_factory.mktemp("service") / "index")


@pytest.fixture(scope="session")
def shared_retriever(tiny_bundle, service_index):
    """One Retriever (bundle + index) that the test servers share, so each server starts in milliseconds."""
    from seje_sdk.retriever import Retriever

    r = Retriever.load(tiny_bundle, backend="onnxruntime")
    r.load_index(service_index)
    yield r
    r.close()


def photos_of(data: Path) -> list[Path]:
    return sorted((data / "images" / "test").rglob("*.jpg"))


SEJE = [sys.executable, "-c", "from seje_sdk.cli import main; main()"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(bundle: Path, index: Path | None, *args: str, port: int | None = None,
                headers: dict | None = None) -> tuple[subprocess.Popen, str]:
    """`seje serve` in a subprocess on 127.0.0.1 (real uvicorn); returns (process, url) once /ready says 200."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [*SEJE, "serve", str(bundle), "--port", str(port), "--backend", "onnxruntime", "--log-level", "warning", *args]
    if index is not None:
        cmd[4:4] = ["--index", str(index)]
    log = tempfile.TemporaryFile(mode="w+")  # a file, never an undrained pipe (a chatty server would block on it)
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True)
    proc.log = log
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(url + "/ready", timeout=2, headers=headers).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"seje serve did not become ready: {server_log(proc)}")
        time.sleep(0.2)


def server_log(proc: subprocess.Popen) -> str:
    """What a `start_serve` process has written so far (stdout and stderr)."""
    proc.log.flush()
    proc.log.seek(0)
    return proc.log.read()


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0
