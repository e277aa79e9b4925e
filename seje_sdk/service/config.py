"""What `seje serve` runs and the limits it enforces, as one frozen dataclass with working defaults."""
from __future__ import annotations

from dataclasses import dataclass

from seje_sdk.errors import InputError


@dataclass(frozen=True)
class ServiceConfig:
    """A bundle + index folder to serve, how to batch, and every request limit (each answered with a 4xx)."""

    bundle: str
    index: str | None = None
    backend: str = "auto"
    precision: str = "fp32"
    host: str = "127.0.0.1"
    port: int = 8000
    batch_items: int = 32           # items encoded together at most (the batching window; not the TensorRT profile limit)
    max_wait_ms: float = 5.0        # how long the first item of a batch waits for company
    max_queue: int = 1024           # items waiting for the encoder before new ones get 503
    max_k: int = 100                # largest k a search may ask for
    max_items: int = 32             # items per /embed request
    max_upload_bytes: int = 10 * 1024 * 1024  # per request body
    max_pixels: int = 40_000_000    # per image, checked from the header before decoding
    max_recipe_chars: int = 20_000  # per recipe (title + ingredients + instructions)
    graceful_timeout_s: int = 30    # how long shutdown waits for in-flight requests

    def __post_init__(self) -> None:
        for name in ("batch_items", "max_queue", "max_k", "max_items", "max_upload_bytes", "max_pixels", "max_recipe_chars"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_wait_ms < 0:
            raise InputError(f"max_wait_ms must be >= 0, got {self.max_wait_ms}")
