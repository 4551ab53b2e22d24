"""The gateway's own pages: landing page, docs page and its assets, 404 and 405 problems."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx
import pytest

pytestmark = pytest.mark.anyio

OpenGateway = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


async def test_landing_page_links_to_products_docs_and_openapi(open_gateway: OpenGateway) -> None:
    async with open_gateway() as client:
        response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Bazaar</h1>" in response.text
    for link in ("/api/catalog/products", "/api/docs", "/api/openapi.json"):
        assert f'href="{link}"' in response.text


async def test_docs_page_and_all_its_assets_are_served_locally(open_gateway: OpenGateway) -> None:
    async with open_gateway() as client:
        page = await client.get("/api/docs")
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        responses = {asset: await client.get(f"/api/{asset}") for asset in assets}
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'url: "openapi.json"' in page.text
    assert set(assets) == {"docs/assets/swagger-ui.css", "docs/assets/swagger-ui-bundle.js"}
    for asset, response in responses.items():
        assert response.status_code == 200, asset
        assert not asset.startswith("http"), "no CDN"
    assert "css" in responses["docs/assets/swagger-ui.css"].headers["content-type"]
    bundle = responses["docs/assets/swagger-ui-bundle.js"]
    assert "javascript" in bundle.headers["content-type"]
    assert "SwaggerUIBundle" in bundle.text


async def test_unknown_route_is_a_404_problem(open_gateway: OpenGateway) -> None:
    async with open_gateway() as client:
        response = await client.get("/no/such/page")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/not-found"


async def test_missing_docs_asset_is_a_404_problem(open_gateway: OpenGateway) -> None:
    async with open_gateway() as client:
        response = await client.get("/api/docs/assets/nothing.js")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_wrong_method_on_a_known_route_is_a_405_problem(open_gateway: OpenGateway) -> None:
    async with open_gateway() as client:
        response = await client.post("/api/docs")
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/method-not-allowed"
    assert "GET" in response.headers["allow"]
