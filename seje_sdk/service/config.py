"""What `seje serve` runs and the limits it enforces, as one frozen dataclass with working defaults.

Every limit here is documented with its default in docs/service-operations.md; the CLI reads its
defaults from this class.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from seje_sdk.errors import InputError

_POSITIVE = ("batch_items", "max_queue", "max_k", "max_items", "max_upload_bytes", "max_pixels", "max_request_pixels",
             "max_recipe_chars", "max_connections", "max_header_bytes", "compact_every")
_TIMES = ("max_wait_ms", "header_timeout_s", "body_timeout_s", "keep_alive_s", "grace_s")


@dataclass(frozen=True)
class ServiceConfig:
    """A bundle + index folder to serve, how to batch, every request limit (each answered with a 4xx), and access."""

    bundle: str
    index: str | None = None
    backend: str = "auto"
    precision: str = "fp32"
    host: str = "127.0.0.1"
    port: int = 8000
    # batching and fair scheduling
    batch_items: int = 32           # items encoded together at most (the batching window; not the TensorRT profile limit)
    max_wait_ms: float = 5.0        # how long the first item of a batch waits for company
    max_queue: int = 1024           # items waiting for the encoder before new ones get 503
    # per-request budgets
    max_k: int = 100                # largest k a search may ask for
    max_items: int = 32             # items per /embed request
    max_upload_bytes: int = 10 * 1024 * 1024  # per request body, counted as it streams (chunked included)
    max_pixels: int = 40_000_000    # per image, checked from the header before decoding
    max_request_pixels: int = 200_000_000  # all images of one request together, checked before decoding
    max_recipe_chars: int = 20_000  # per recipe (title + ingredients + instructions)
    # connections
    header_timeout_s: float = 10.0  # a connection must deliver a request's headers within this
    body_timeout_s: float = 30.0    # ... and its whole body within this (else 408, connection closed)
    keep_alive_s: float = 5.0       # idle keep-alive connections are closed after this
    max_connections: int = 256      # open connections at most; more are refused with 503 and closed
    max_header_bytes: int = 64 * 1024  # request line + headers at most (uvicorn's h11_max_incomplete_event_size)
    grace_s: float = 30.0           # SIGTERM: in-flight requests get at most this long, then the process exits 0
    # access
    api_keys: tuple[str, ...] = field(default=(), repr=False)  # empty: no key needed
    public_metrics: bool = False    # /metrics without a key
    allowed_hosts: tuple[str, ...] | None = None  # Host header values served; None: see `hosts()`
    cors_origins: tuple[str, ...] = ()  # browser origins allowed to call the API; empty: none
    docs: bool = True               # /docs (served offline) and /openapi.json
    # live updates
    live_dir: str | None = None     # durable write log + compacted index versions; None: <index>.live
    compact_every: int = 1000       # fold the log into a new index version after this many writes

    def __post_init__(self) -> None:
        for name in _POSITIVE:
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in _TIMES:
            if getattr(self, name) < 0:
                raise InputError(f"{name} must be >= 0, got {getattr(self, name)}")
        if any(not k or k != k.strip() for k in self.api_keys):
            raise InputError("api_keys: a key is empty or has surrounding whitespace")

    def hosts(self) -> list[str]:
        """Host header values accepted: the configured ones, else the bound host (+ localhost names on loopback)."""
        if self.allowed_hosts:
            return list(self.allowed_hosts)
        if self.host in ("0.0.0.0", "::", ""):
            return ["*"]  # bound to every interface: the operator names the hosts with --allowed-hosts
        hosts = [self.host]
        if self.host == "localhost" or _loopback(self.host):
            hosts += ["localhost", "127.0.0.1", "[::1]"]
        return sorted(set(hosts))

    def live_folder(self) -> str | None:
        """Where live writes are logged and compacted (None without an index)."""
        if self.live_dir is not None:
            return self.live_dir
        return None if self.index is None else str(self.index).rstrip("/\\") + ".live"


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_api_keys(path: str) -> tuple[str, ...]:
    """Keys from a file, one per line (blank lines and '#' comments ignored); refuses a file without any."""
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError as e:
        raise InputError(f"--api-key-file {path}: cannot read it ({e.strerror})") from None
    keys = tuple(line.strip() for line in lines if line.strip() and not line.strip().startswith("#"))
    if not keys:
        raise InputError(f"--api-key-file {path}: holds no key (one key per line)")
    return keys
