"""Run the app on uvicorn: in the foreground (`seje serve`) or on a background thread (tests, benchmarks).

uvicorn's own graceful shutdown does the work on SIGINT/SIGTERM or `stop()`: it stops accepting,
waits for in-flight requests (up to `graceful_timeout_s`), then runs the app's lifespan exit,
which drains the batcher.
"""
from __future__ import annotations

import socket
import threading
import time

import uvicorn

from seje_sdk.errors import SejeError
from seje_sdk.service.app import Loader, create_app, load_retriever
from seje_sdk.service.config import ServiceConfig


def _uvicorn(app, config: ServiceConfig, log_level: str) -> uvicorn.Server:
    return uvicorn.Server(uvicorn.Config(app, host=config.host, port=config.port, log_level=log_level,
                                         timeout_graceful_shutdown=config.graceful_timeout_s, access_log=False))


def run_service(config: ServiceConfig, log_level: str = "info") -> None:
    """Serve until SIGINT/SIGTERM; raises the loading error (a SejeError) when the bundle or index cannot load."""
    failure: list[BaseException] = []
    server: uvicorn.Server | None = None

    def failed(e: BaseException) -> None:
        failure.append(e)
        if server is not None:
            server.should_exit = True

    server = _uvicorn(create_app(config, on_load_failure=failed), config, log_level)
    server.run()
    if failure:
        e = failure[0]
        raise e if isinstance(e, SejeError) else SejeError(f"the service could not load: {type(e).__name__}: {e}")


class ServiceThread:
    """The service on a background thread on 127.0.0.1 and a free port; `url` once started.

    >>> with ServiceThread(ServiceConfig("bundle/", "idx/")) as svc: httpx.get(svc.url + "/ready")   # doctest: +SKIP
    """

    def __init__(self, config: ServiceConfig, loader: Loader = load_retriever, owns_retriever: bool = True,
                 log_level: str = "warning"):
        self.app = create_app(config, loader=loader, owns_retriever=owns_retriever)
        self.server = _uvicorn(self.app, config, log_level)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))  # the network rule: loopback only
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self._sock]}, name="seje-uvicorn", daemon=True)

    def start(self, timeout: float = 30.0) -> "ServiceThread":
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the service did not start")
            time.sleep(0.01)
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until the bundle and index are loaded (raises the loading error if it failed)."""
        state = self.app.state.seje
        deadline = time.monotonic() + timeout
        while state.batcher is None:
            if state.error is not None:
                raise SejeError(state.error)
            if time.monotonic() > deadline:
                raise TimeoutError("the service did not become ready")
            time.sleep(0.01)

    def stop(self, timeout: float = 60.0) -> None:
        """Graceful shutdown: in-flight requests finish, then the thread ends."""
        self.server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> "ServiceThread":
        self.start()
        self.wait_ready()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
