"""Liveness, readiness (every upstream's /livez, with a short timeout) and metrics."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager

import httpx
import pytest

from chassis.testing import TokenMinter
from gateway.settings import GatewaySettings
from gateway.upstreams import Upstream, Upstreams

pytestmark = pytest.mark.anyio

OpenGateway = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def silent_url() -> Iterator[str]:
    """An upstream that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


async def test_livez_answers_without_asking_upstreams(
    open_gateway: OpenGateway, closed_url: str
) -> None:
    async with open_gateway(upstreams={"down": closed_url}) as client:
        response = await client.get("/livez")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_ok_when_every_upstream_is_live(open_gateway: OpenGateway) -> None:
    async with open_gateway() as client:
        response = await client.get("/readyz")
    assert response.status_code == 200
    report = response.json()
    assert report["status"] == "ok"
    assert report["checks"]["upstream:echo"]["status"] == "ok"
    assert report["checks"]["upstream:echo"]["required"] is False


async def test_readyz_stays_ready_naming_the_upstream_that_is_down(
    open_gateway: OpenGateway, upstream_url: str, closed_url: str
) -> None:
    # ADR 0005: every replica shares the upstream, so unready would take the API offline.
    async with open_gateway(upstreams={"echo": upstream_url, "orders": closed_url}) as client:
        response = await client.get("/readyz")
    assert response.status_code == 200
    report = response.json()
    assert report["status"] == "degraded"
    checks = report["checks"]
    assert checks["upstream:echo"]["status"] == "ok"
    assert checks["upstream:orders"] == {
        "status": "failing",
        "error": "ServiceUnavailable",
        "ms": checks["upstream:orders"]["ms"],
        "required": False,
    }


async def test_readyz_reports_the_shared_stores_when_redis_is_down(
    open_gateway: OpenGateway, token_minter: TokenMinter, closed_url: str
) -> None:
    redis_url = closed_url.replace("http://", "redis://")
    async with open_gateway(redis_url=redis_url, jwt_public_key=token_minter.public_pem) as client:
        response = await client.get("/readyz")
    assert response.status_code == 200
    report = response.json()
    assert report["status"] == "degraded"
    assert report["checks"]["rate-limit-store"]["status"] == "failing"
    assert report["checks"]["revocation-list"]["error"] == "RevocationUnavailable"


async def test_readyz_gives_up_quickly_on_silent_upstreams(
    open_gateway: OpenGateway, silent_url: str
) -> None:
    upstreams = {"a": silent_url, "b": silent_url}
    async with open_gateway(upstreams=upstreams, upstream_read_timeout=30) as client:
        started = time.perf_counter()
        response = await client.get("/readyz")
        elapsed = time.perf_counter() - started
    assert response.status_code == 200
    assert response.json()["checks"]["upstream:a"]["error"] == "GatewayTimeout"
    assert elapsed < 1.5  # both probes run at once, each bounded by the probe timeout


async def test_metrics_label_proxied_requests_by_upstream_route(
    open_gateway: OpenGateway,
) -> None:
    async with open_gateway() as client:
        await client.get("/api/echo/products/1")
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert 'route="/api/echo/{path:path}"' in response.text
    assert 'service="gateway"' in response.text


async def test_clients_exist_only_between_open_and_aclose(upstream_url: str) -> None:
    upstreams = Upstreams(GatewaySettings(upstreams={"echo": upstream_url}))
    with pytest.raises(RuntimeError, match="not open"):
        upstreams["echo"]
    await upstreams.open()
    try:
        response = await upstreams["echo"].client.send("GET", "/livez")
        assert response.status_code == 200
    finally:
        await upstreams.aclose()
    with pytest.raises(RuntimeError, match="not open"):
        upstreams["echo"]


def test_upstream_url_keeps_the_raw_path_on_the_upstream_host() -> None:
    upstreams = Upstreams(GatewaySettings(upstreams={"a": "http://10.0.0.5:81/base"}))
    base = httpx.URL(upstreams.urls["a"])
    upstream = Upstream("a", base, client=None)  # type: ignore[arg-type]
    url = upstream.url_for(b"//other.example/x%2Fy?q=1")
    assert url.host == "10.0.0.5"
    assert url.raw_path == b"/base//other.example/x%2Fy?q=1"
