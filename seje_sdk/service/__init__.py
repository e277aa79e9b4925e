"""The retrieval service: a FastAPI app over Retriever and a saved index, with dynamic batching,
Prometheus metrics and a search page (`seje serve`). Needs the `serve` extra."""
from seje_sdk.service.config import ServiceConfig

__all__ = ["ServiceConfig"]
