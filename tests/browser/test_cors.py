"""CORS in a real browser: a page on an allowed origin reads the API, another is blocked."""

from __future__ import annotations

from typing import Any

from .conftest import Platform, Sites

FETCH = """async ([url, init]) => {
  try {
    const response = await fetch(url, init);
    return {ok: true, status: response.status, body: await response.json(),
            requestId: response.headers.get("X-Request-Id")};
  } catch (error) {
    return {ok: false, error: String(error)};
  }
}"""


def run_fetch(browser: Any, site: str, url: str, init: dict[str, Any]) -> dict[str, Any]:
    """Open `site` in a fresh context and fetch `url` from a script on it."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(site + "/")
        result: dict[str, Any] = page.evaluate(FETCH, [url, init])
        return result
    finally:
        context.close()


def test_a_page_on_an_allowed_origin_fetches_the_catalog(
    browser: Any, shop: Platform, sites: Sites
) -> None:
    url = shop.gateway + "/api/catalog/products?limit=2"

    result = run_fetch(browser, sites.allowed, url, {})

    assert result["ok"], result
    assert result["status"] == 200
    assert len(result["body"]["items"]) == 2
    assert result["requestId"], "exposed to the page's script"


def test_a_preflighted_request_from_an_allowed_origin_gets_through(
    browser: Any, shop: Platform, sites: Sites
) -> None:
    # A JSON POST is not a simple request: the browser asks the gateway first.
    init = {
        "method": "POST",
        "headers": {"Content-Type": "application/json"},
        "body": '{"email": "not-an-address"',
    }

    result = run_fetch(browser, sites.allowed, shop.gateway + "/api/auth/register", init)

    assert result["ok"], result
    assert result["status"] == 400
    assert result["body"]["type"] == "/problems/malformed-json"


def test_a_page_on_another_origin_is_blocked(browser: Any, shop: Platform, sites: Sites) -> None:
    url = shop.gateway + "/api/catalog/products?limit=2"

    result = run_fetch(browser, sites.refused, url, {})

    assert not result["ok"], result
    assert "Failed to fetch" in result["error"]
