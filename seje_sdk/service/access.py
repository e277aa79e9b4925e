"""Who may call the service and how long a body may take: pure ASGI middleware, outside the routes.

- `ApiKeyGuard`: a valid key (`Authorization: Bearer KEY` or `X-API-Key: KEY`, compared in
  constant time) on every path except the open ones (/health, /ready, the static page and docs
  page, and /metrics when public); otherwise 401 JSON.
- `BodyGuard`: the body's bytes are counted as they stream (chunked included) and stop at
  `max_upload_bytes` (413); the whole body must arrive within `body_timeout_s` (408); either way
  the connection is closed.
- `QuietCancel`: a request cancelled when the shutdown grace is over ends with a log line.
- `install_access`: these plus Starlette's TrustedHostMiddleware (Host header check, against
  DNS rebinding) and CORSMiddleware (only when origins are configured).
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time

from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware

from seje_sdk.service.config import ServiceConfig

log = logging.getLogger("seje.service")
OPEN_PATHS = ("/health", "/ready", "/", "/docs")  # no data behind these: liveness, readiness, static HTML


def _header(scope: dict, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return ""


class ApiKeyGuard:
    """401 JSON unless the request carries one of `keys`; `open_paths` pass without one."""

    def __init__(self, app, keys: tuple[str, ...], open_paths: tuple[str, ...]):
        self.app, self.open_paths = app, set(open_paths)
        self.keys = [k.encode() for k in keys]

    def allowed(self, scope: dict) -> bool:
        auth = _header(scope, b"authorization")
        given = auth[7:].strip() if auth[:7].lower() == "bearer " else _header(scope, b"x-api-key").strip()
        ok = False
        for key in self.keys:  # every key is compared (no early exit), each in constant time
            ok |= hmac.compare_digest(given.encode(), key)
        return ok and bool(given)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] in self.open_paths or scope["method"] == "OPTIONS" or self.allowed(scope):
            return await self.app(scope, receive, send)
        await _refuse(send, 401, "a valid API key is required: send `Authorization: Bearer KEY` or `X-API-Key: KEY`",
                      [(b"www-authenticate", b"Bearer")])


class BodyRefused(Exception):
    """The request body broke a limit: over the byte cap, or too slow to arrive."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class BodyGuard:
    """Counts a request body's bytes as they stream in (chunked included) and times its arrival.

    A declared Content-Length over `max_bytes` is answered 413 before anything is read; otherwise
    `receive` raises BodyRefused at the cap (413) or the deadline (408), and whatever the app then
    answers (a parser may turn the error into a 400) is replaced by that JSON answer, sent with
    `Connection: close` so the rest of the body is never read.
    """

    def __init__(self, app, max_bytes: int, seconds: float):
        self.app, self.max_bytes, self.seconds = app, max_bytes, seconds

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > self.max_bytes:
            return await _refuse(send, 413, f"request body is {int(declared)} bytes, the limit is {self.max_bytes}")
        deadline, seen, refused, started = time.monotonic() + self.seconds, [0], [], [False]

        async def guarded_receive():
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                refused.append(BodyRefused(408, f"the request body did not arrive within {self.seconds:g} s"))
                raise refused[-1] from None
            seen[0] += len(message.get("body", b""))
            if seen[0] > self.max_bytes:
                refused.append(BodyRefused(413, f"request body over the {self.max_bytes}-byte limit (stopped reading there)"))
                raise refused[-1]
            return message

        async def guarded_send(message) -> None:
            if not refused:  # once refused, the answer below replaces the app's
                started[0] = True
                await send(message)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except BodyRefused:
            pass
        if refused and not started[0]:
            await _refuse(send, refused[0].status, refused[0].message)


async def _refuse(send, status: int, message: str, headers: list | None = None) -> None:
    """A JSON error answer straight from the middleware; the connection is closed after it."""
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class QuietCancel:
    """A request still running when the --grace time is up is cancelled by uvicorn: end it with one log line, not a traceback."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        try:
            await self.app(scope, receive, send)
        except asyncio.CancelledError:
            if scope["type"] != "http":
                raise
            log.warning("seje service: %s %s cancelled at shutdown (the --grace time was up)", scope["method"], scope["path"])


def install_access(app, config: ServiceConfig) -> None:
    """Add the middleware above in order (outermost last): body guard, key, CORS, Host check, quiet cancel."""
    app.add_middleware(BodyGuard, max_bytes=config.max_upload_bytes, seconds=config.body_timeout_s)
    if config.api_keys:
        open_paths = OPEN_PATHS + (("/metrics",) if config.public_metrics else ())
        app.add_middleware(ApiKeyGuard, keys=config.api_keys, open_paths=open_paths)
    if config.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins),
                           allow_methods=["GET", "POST", "PUT", "DELETE"],
                           allow_headers=["Authorization", "X-API-Key", "Content-Type"])
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=config.hosts())
    app.add_middleware(QuietCancel)
