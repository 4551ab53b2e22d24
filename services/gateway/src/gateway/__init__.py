"""The Bazaar gateway: the one public entry, an async proxy in front of every service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route

from chassis.asgi import EXCEPTION_HANDLERS, init_asgi_service, operational_routes
from chassis.auth import verifier_from_settings
from chassis.health import HealthChecks
from gateway.openapi import ApiDocument
from gateway.pages import page_routes
from gateway.proxy import proxy_routes
from gateway.settings import GatewaySettings
from gateway.upstreams import Upstreams

__all__ = ["GatewaySettings", "create_app"]


def create_app(settings: GatewaySettings | None = None) -> Starlette:
    """Build the gateway; upstream clients open and close with the app's lifespan."""
    settings = settings or GatewaySettings()
    upstreams = Upstreams(settings)
    document = ApiDocument(upstreams)
    routes: list[BaseRoute] = [
        *operational_routes(HealthChecks(), async_checks=upstreams.liveness_checks()),
        *page_routes(),
        Route("/api/openapi.json", document.endpoint, methods=["GET"], name="openapi"),
        *proxy_routes(
            upstreams,
            verifier=verifier_from_settings(settings),
            max_body_bytes=settings.max_body_bytes,
        ),
    ]

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await upstreams.open()
        try:
            yield
        finally:
            await upstreams.aclose()

    app = Starlette(routes=routes, exception_handlers=EXCEPTION_HANDLERS, lifespan=lifespan)
    init_asgi_service(app, settings)
    return app
