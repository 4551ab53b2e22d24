"""The Bazaar gateway: the one public entry, an async proxy in front of every service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute, Route

from chassis.asgi import EXCEPTION_HANDLERS, AsyncCheck, init_asgi_service, operational_routes
from chassis.health import HealthChecks
from gateway.cors import cors_middleware
from gateway.faults import fault_routes
from gateway.openapi import ApiDocument
from gateway.pages import page_routes
from gateway.proxy import metadata_routes, proxy_routes
from gateway.ratelimit import RateLimiter
from gateway.responsecache import ResponseCache
from gateway.settings import GatewaySettings
from gateway.tokens import GuardedRevocationList, edge_verifier
from gateway.upstreams import Upstreams

__all__ = ["GatewaySettings", "create_app"]


def create_app(settings: GatewaySettings | None = None) -> Starlette:
    """Build the gateway; upstream clients and the rate-limit store open with its lifespan."""
    settings = settings or GatewaySettings()
    upstreams = Upstreams(settings)
    document = ApiDocument(upstreams)
    verifier, revocations = edge_verifier(settings)
    limiter = RateLimiter(settings) if settings.rate_limits_enabled else None
    cache = ResponseCache(settings, settings.cached_services)
    routes: list[BaseRoute] = [
        # ADR 0005: ready whenever the gateway itself serves; its dependencies are reported
        # but not fatal, or one service down would take every replica, and the API, offline.
        *operational_routes(
            HealthChecks(), advisory_checks=_dependency_checks(upstreams, limiter, revocations)
        ),
        # Before the storefront, which answers every other path outside /api.
        *metadata_routes(
            upstreams,
            verifier=verifier,
            limiter=limiter,
            max_body_bytes=settings.max_body_bytes,
        ),
        *page_routes(settings.web_dir),
        Route("/api/openapi.json", document.endpoint, methods=["GET"], name="openapi"),
        *fault_routes(verifier),
        *proxy_routes(
            upstreams,
            verifier=verifier,
            limiter=limiter,
            max_body_bytes=settings.max_body_bytes,
            cache=cache,
        ),
    ]

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await upstreams.open()
        if limiter is not None:
            await limiter.open()
        try:
            yield
        finally:
            if limiter is not None:
                await limiter.aclose()
            await upstreams.aclose()

    # Inside the request-context middleware init_asgi_service adds: preflights get their
    # request id and access line too.
    app = Starlette(
        routes=routes,
        middleware=cors_middleware(settings),
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    init_asgi_service(app, settings)
    return app


def _dependency_checks(
    upstreams: Upstreams,
    limiter: RateLimiter | None,
    revocations: GuardedRevocationList | None,
) -> dict[str, AsyncCheck]:
    """Every upstream's liveness, and the rate-limit and revocation stores when shared."""
    checks = upstreams.liveness_checks()
    if limiter is not None and limiter.redis_url:
        checks["rate-limit-store"] = limiter.check_store
    if revocations is not None:

        async def revocation_list() -> None:
            # Through the breaker: the report says what requests meet, and stays fast.
            await run_in_threadpool(revocations.is_revoked, "readiness-probe")

        checks["revocation-list"] = revocation_list
    return checks
