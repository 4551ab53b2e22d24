"""CORS at the gateway: off by default, exact origins, preflights answered at the edge."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from gateway.settings import GatewaySettings

OpenGateway = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]

APP = "http://localhost:5173"
OTHER = "http://evil.example"


pytestmark = pytest.mark.anyio


def preflight(origin: str, method: str = "GET", headers: str = "") -> dict[str, str]:
    request = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        request["Access-Control-Request-Headers"] = headers
    return request


async def test_off_by_default_no_cors_headers(open_gateway: OpenGateway) -> None:
    async with open_gateway() as client:
        response = await client.get("/api/echo/x", headers={"Origin": APP})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


async def test_an_allowed_origin_is_echoed_with_vary_origin(open_gateway: OpenGateway) -> None:
    async with open_gateway(cors_origins=(APP,)) as client:
        response = await client.get("/api/echo/x", headers={"Origin": APP})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP
    assert "Origin" in response.headers["vary"]
    assert "X-Request-Id" in response.headers["access-control-expose-headers"]
    assert "access-control-allow-credentials" not in response.headers


async def test_another_origin_gets_no_allow_origin_but_still_vary(
    open_gateway: OpenGateway,
) -> None:
    async with open_gateway(cors_origins=(APP,)) as client:
        response = await client.get("/api/echo/x", headers={"Origin": OTHER})
        same_origin = await client.get("/api/echo/x")
    assert "access-control-allow-origin" not in response.headers
    # A shared cache must not hand this answer to an allowed origin, nor the reverse.
    assert "Origin" in response.headers["vary"]
    assert "Origin" in same_origin.headers["vary"]


async def test_preflight_is_answered_at_the_gateway(
    open_gateway: OpenGateway, upstream_state: Any
) -> None:
    upstream_state.paths.clear()
    async with open_gateway(cors_origins=(APP,)) as client:
        response = await client.options(
            "/api/echo/orders",
            headers=preflight(APP, "POST", "authorization, content-type, idempotency-key"),
        )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "Idempotency-Key" in response.headers["access-control-allow-headers"]
    assert response.headers["access-control-max-age"] == "600"
    assert "Origin" in response.headers["vary"]
    assert upstream_state.paths == []  # the upstream never saw it


async def test_a_refused_preflight_is_a_problem(open_gateway: OpenGateway) -> None:
    async with open_gateway(cors_origins=(APP,)) as client:
        response = await client.options("/api/echo/x", headers=preflight(OTHER))
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "/problems/cors-refused"
    assert "origin" in body["detail"]
    assert "access-control-allow-origin" not in response.headers


async def test_credentials_are_allowed_only_when_asked(open_gateway: OpenGateway) -> None:
    async with open_gateway(cors_origins=(APP,), cors_allow_credentials=True) as client:
        response = await client.get("/api/echo/x", headers={"Origin": APP})
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["access-control-allow-origin"] == APP


async def test_a_wildcard_without_credentials_allows_any_origin(open_gateway: OpenGateway) -> None:
    async with open_gateway(cors_origins=("*",)) as client:
        response = await client.get("/api/echo/x", headers={"Origin": OTHER})
    assert response.headers["access-control-allow-origin"] == "*"


def test_a_wildcard_with_credentials_is_refused() -> None:
    with pytest.raises(ValidationError, match="exact origins"):
        GatewaySettings(cors_origins=("*",), cors_allow_credentials=True)


@pytest.mark.parametrize(
    "origin",
    ["localhost:5173", "http://localhost:5173/", "http://localhost:5173/app", "HTTP://Shop.example",
     "null", "ftp://x.example", "*.example.com"],
)  # fmt: skip
def test_an_origin_must_be_written_as_a_browser_sends_it(origin: str) -> None:
    with pytest.raises(ValidationError, match="CORS origin"):
        GatewaySettings(cors_origins=(origin,))


def test_origins_from_the_environment_as_a_list_or_commas(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BAZAAR_GATEWAY_CORS_ORIGINS", f"{APP}, https://shop.example:8443")
    assert GatewaySettings().cors_origins == (APP, "https://shop.example:8443")
    monkeypatch.setenv("BAZAAR_GATEWAY_CORS_ORIGINS", f'["{APP}", "http://[::1]:5173"]')
    assert GatewaySettings().cors_origins == (APP, "http://[::1]:5173")
    monkeypatch.setenv("BAZAAR_GATEWAY_CORS_ORIGINS", "")
    assert GatewaySettings().cors_origins == ()
