"""The same app on Ray Serve, for more than one machine: each replica runs `create_app(config)`
(its lifespan loads the bundle and index and starts the batcher), Ray routes HTTP to replicas.

Needs `pip install "ray[serve]"` (the `ray-serve` extra). Example:

    from ray import serve
    from seje_sdk.service import ServiceConfig
    from seje_sdk.service.ray_serve import seje_deployment

    app = seje_deployment(ServiceConfig("bundle/", "idx/"), num_replicas=4, num_cpus=2).bind()
    serve.run(app, route_prefix="/")        # HTTP on Ray's proxy (127.0.0.1:8000 by default)
"""
from __future__ import annotations

from typing import Any

from seje_sdk.errors import InputError
from seje_sdk.service.app import create_app
from seje_sdk.service.config import ServiceConfig


def seje_deployment(config: ServiceConfig, num_replicas: int | str = 1, num_cpus: float = 1.0, num_gpus: float = 0.0) -> Any:
    """A Ray Serve deployment whose replicas each serve `create_app(config)`; bind() it and pass it to serve.run."""
    try:
        from ray import serve
    except ImportError as e:
        raise InputError(f"Ray Serve is not installed here: pip install 'ray[serve]' ({e})") from e

    def build_app():  # a builder function, not an app object: each replica builds its own app and loads the bundle there
        return create_app(config)

    return serve.deployment(serve.ingress(build_app)(), name="seje").options(
        num_replicas=num_replicas, ray_actor_options={"num_cpus": num_cpus, "num_gpus": num_gpus})
