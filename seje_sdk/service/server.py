"""Run the app on uvicorn: in the foreground (`seje serve`) or on a background thread (tests, benchmarks).

uvicorn does the graceful shutdown on SIGINT/SIGTERM or `stop()`: it stops accepting, waits for
in-flight requests (up to `grace_s`), then runs the app's lifespan exit, which drains the batcher.
Two things are added here: a protocol that drops connections whose headers do not arrive in time
or that exceed the connection cap, and signal handling that ends the process with status 0 after
a clean drain (uvicorn re-raises the signal, which makes the exit status -15).
"""
from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from typing import Iterator

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from seje_sdk.errors import SejeError
from seje_sdk.service.app import Loader, create_app, load_retriever
from seje_sdk.service.config import ServiceConfig

_REFUSED_BODY = b'{"error": "too many open connections; retry shortly"}'
_REFUSED = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nconnection: close\r\n"
            b"retry-after: 1\r\ncontent-length: %d\r\n\r\n%s" % (len(_REFUSED_BODY), _REFUSED_BODY))


class GuardedH11(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's headers and a cap on open connections."""

    header_timeout_s = 10.0
    max_connections = 256

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer = None
        if len(self.connections) > self.max_connections:
            transport.write(_REFUSED)
            transport.close()
            return
        self._arm_header_timer()

    def _arm_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()  # still no complete request line + headers: a slow or idle client

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._disarm_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self._header_timer is None:
            self._arm_header_timer()  # the next request on this keep-alive connection gets its own deadline

    def connection_lost(self, exc) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)


class Server(uvicorn.Server):
    """uvicorn.Server that ends with status 0 after a signal-triggered graceful shutdown."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def protocol_for(config: ServiceConfig) -> type[GuardedH11]:
    """GuardedH11 with `config`'s header timeout and connection cap."""
    return type("SejeH11", (GuardedH11,), {"header_timeout_s": config.header_timeout_s,
                                           "max_connections": config.max_connections})


def _uvicorn(app, config: ServiceConfig, log_level: str) -> Server:
    return Server(uvicorn.Config(app, host=config.host, port=config.port, log_level=log_level, access_log=False,
                                 http=protocol_for(config), timeout_graceful_shutdown=max(1, round(config.grace_s)),
                                 timeout_keep_alive=max(1, round(config.keep_alive_s)),
                                 h11_max_incomplete_event_size=config.max_header_bytes, lifespan="on"))


def run_service(config: ServiceConfig, log_level: str = "info") -> None:
    """Serve until SIGINT/SIGTERM (then return normally); raises the loading error (a SejeError) when the bundle or index cannot load."""
    failure: list[BaseException] = []
    server: Server | None = None

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
