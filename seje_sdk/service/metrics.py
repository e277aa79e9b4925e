"""Prometheus metrics of one service instance: requests by endpoint and status, latency, batch sizes.

Each app gets its own CollectorRegistry, so several apps in one process (tests, benchmarks)
never share or clash over counters.
"""
from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServiceMetrics:
    """The counters and histograms `/metrics` exposes, in text format."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("seje_requests", "HTTP requests answered", ["endpoint", "status"], registry=self.registry)
        self.latency = Histogram("seje_request_latency_seconds", "Time from request to response", ["endpoint"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_size = Histogram("seje_batch_size", "Items encoded together per encoder call", ["kind"],
                                    buckets=BATCH_BUCKETS, registry=self.registry)
        self.ready = Gauge("seje_ready", "1 once the bundle and index are loaded", registry=self.registry)

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint=endpoint, status=str(status)).inc()
        self.latency.labels(endpoint=endpoint).observe(seconds)

    def observe_batch(self, kind: str, size: int) -> None:
        self.batch_size.labels(kind=kind).observe(size)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric above."""
        return generate_latest(self.registry)
