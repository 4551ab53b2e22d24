"""The gateway's own pages: the storefront or the landing page, the docs page and its assets,
404 and 405 problems."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
import pytest

from gateway import pages

pytestmark = pytest.mark.anyio

OpenGateway = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]

INDEX = (
    '<!doctype html><html><head><script type="module" src="/assets/index-3f2a9c.js"></script>'
    '</head><body><div id="root"></div></body></html>'
)
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture(autouse=True)
def no_built_storefront(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see the landing page unless they build a storefront, whatever is in web/dist."""
    monkeypatch.setattr(pages, "source_web_dir", lambda: None)


@pytest.fixture
def storefront(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A built storefront (web/dist) that the gateway serves."""
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text(INDEX)
    (dist / "assets" / "index-3f2a9c.js").write_text("console.log('shop')")
    (dist / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (tmp_path / "secret.txt").write_text("outside dist")
    monkeypatch.setattr(pages, "source_web_dir", lambda: dist)
    return dist


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


async def test_storefront_index_is_served_at_the_root_and_revalidated(
    storefront: Path, open_gateway: OpenGateway
) -> None:
    async with open_gateway() as client:
        response = await client.get("/")
        by_name = await client.get("/index.html")
    assert response.status_code == 200
    assert response.text == INDEX == by_name.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    assert "etag" in response.headers


async def test_storefront_pages_carry_a_content_security_policy(
    storefront: Path, open_gateway: OpenGateway
) -> None:
    async with open_gateway() as client:
        response = await client.get("/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_hashed_assets_are_cached_for_a_year(
    storefront: Path, open_gateway: OpenGateway
) -> None:
    async with open_gateway() as client:
        response = await client.get("/assets/index-3f2a9c.js")
        etag = response.headers["etag"]
        again = await client.get("/assets/index-3f2a9c.js", headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert "javascript" in response.headers["content-type"]
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert again.status_code == 304


async def test_other_files_of_the_app_are_revalidated(
    storefront: Path, open_gateway: OpenGateway
) -> None:
    async with open_gateway() as client:
        response = await client.get("/favicon.svg")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("path", ["/orders/ord_5f0c6d2a9b3e4f1a", "/admin/products/7", "/cart"])
async def test_a_browser_opening_a_deep_link_gets_the_app(
    storefront: Path, open_gateway: OpenGateway, path: str
) -> None:
    async with open_gateway() as client:
        response = await client.get(path, headers=BROWSER)
        head = await client.head(path, headers=BROWSER)
    assert response.status_code == 200
    assert response.text == INDEX
    assert response.headers["cache-control"] == "no-cache"
    assert head.status_code == 200
    assert head.content == b""


@pytest.mark.parametrize(
    "accept", ["application/json", "*/*", "text/html;q=0", "text/html; q=0.0", "text/html;q=x"]
)
async def test_a_missing_page_not_asked_for_as_html_is_a_404_problem(
    storefront: Path, open_gateway: OpenGateway, accept: str
) -> None:
    async with open_gateway() as client:
        response = await client.get("/no/such/page", headers={"Accept": accept})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_missing_asset_is_a_404_even_for_a_browser(
    storefront: Path, open_gateway: OpenGateway
) -> None:
    # Old index.html pages name assets of an earlier build: HTML in their place breaks them.
    async with open_gateway() as client:
        response = await client.get("/assets/index-0ld0ld.js", headers=BROWSER)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_api_paths_are_never_the_app(
    storefront: Path, open_gateway: OpenGateway, upstream_state: object
) -> None:
    async with open_gateway() as client:
        proxied = await client.get("/api/echo/products", headers=BROWSER)
        unknown = await client.get("/api/nothing-here/products", headers=BROWSER)
        bare = await client.get("/api", headers=BROWSER)
        docs = await client.get("/api/docs", headers=BROWSER)
    assert proxied.json()["path"] == "/products"
    assert unknown.status_code == bare.status_code == 404
    assert unknown.headers["content-type"] == bare.headers["content-type"]
    assert bare.headers["content-type"] == "application/problem+json"
    assert "swagger-ui" in docs.text


async def test_operational_endpoints_are_not_the_app(
    storefront: Path, open_gateway: OpenGateway
) -> None:
    async with open_gateway() as client:
        response = await client.get("/livez", headers=BROWSER)
    assert response.headers["content-type"].startswith("application/json")


async def test_files_outside_the_built_app_are_not_served(
    storefront: Path, open_gateway: OpenGateway
) -> None:
    async with open_gateway() as client:
        responses = [
            await client.get(path)
            for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/assets/..%2f..%2fsecret.txt")
        ]
    for response in responses:
        assert response.status_code == 404
        assert "outside dist" not in response.text


async def test_writing_to_the_app_is_a_405_problem(
    storefront: Path, open_gateway: OpenGateway
) -> None:
    async with open_gateway() as client:
        response = await client.post("/orders", headers=BROWSER)
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["allow"] == "GET, HEAD"


async def test_a_web_folder_without_an_index_keeps_the_landing_page(tmp_path: Path) -> None:
    routes = pages.page_routes(tmp_path)
    assert not any(isinstance(route, pages.Storefront) for route in routes)
