"""Who may call the service and how long a body may take: pure ASGI middleware, outside the routes.

- `ApiKeyGuard`: a valid key (`Authorization: Bearer KEY` or `X-API-Key: KEY`, compared in
  constant time) on every path except the open ones (/health, /ready, the static page and docs
  page, and /metrics when public); otherwise 401 JSON.
- `BodyDeadline`: the whole request body must arrive within `body_timeout_s`; a slower client
  gets 408 and its connection is closed (the byte cap itself is FastAPI's `max_body_size`).
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
        body = json.dumps({"error": "a valid API key is required: send `Authorization: Bearer KEY` or `X-API-Key: KEY`"}).encode()
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"www-authenticate", b"Bearer")]})
        await send({"type": "http.response.body", "body": body})


class BodyTooSlow(Exception):
    """The request body did not arrive within the deadline."""


class BodyDeadline:
    """Answers 408 (and closes the connection) once a request body has taken longer than `seconds` to arrive.

    `receive` raises BodyTooSlow at the deadline; whatever the app then answers (a parser may turn
    the error into a 400) is replaced by the 408.
    """

    def __init__(self, app, seconds: float):
        self.app, self.seconds = app, seconds

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        deadline, late, started = time.monotonic() + self.seconds, [False], [False]

        async def timed_receive():
            try:
                return await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                late[0] = True
                raise BodyTooSlow() from None

        async def guarded_send(message) -> None:
            if late[0]:
                return  # the 408 below replaces the app's answer
            started[0] = True
            await send(message)

        try:
            await self.app(scope, timed_receive, guarded_send)
        except BodyTooSlow:
            pass
        if late[0] and not started[0]:
            body = json.dumps({"error": f"the request body did not arrive within {self.seconds:g} s"}).encode()
            await send({"type": "http.response.start", "status": 408,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                    (b"connection", b"close")]})
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
    """Add the middleware above in order (outermost last): body deadline, key, CORS, Host check, quiet cancel."""
    app.add_middleware(BodyDeadline, seconds=config.body_timeout_s)
    if config.api_keys:
        open_paths = OPEN_PATHS + (("/metrics",) if config.public_metrics else ())
        app.add_middleware(ApiKeyGuard, keys=config.api_keys, open_paths=open_paths)
    if config.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins),
                           allow_methods=["GET", "POST", "PUT", "DELETE"],
                           allow_headers=["Authorization", "X-API-Key", "Content-Type"])
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=config.hosts())
    app.add_middleware(QuietCancel)
