"""The demo catalog's pictures in a real browser: they load, at a width that fits, with alt text."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import PHONE, Platform, Tab

pytestmark = pytest.mark.system

LOADED = """(count) => {
  const images = [...document.querySelectorAll("img.product-image")].slice(0, count);
  return images.length === count && images.every((i) => i.complete && i.naturalWidth > 0);
}"""
DESCRIBE = """() => [...document.querySelectorAll("img.product-image")].map((i) => ({
  alt: i.getAttribute("alt"), complete: i.complete, natural: i.naturalWidth,
  current: i.currentSrc, srcset: i.getAttribute("srcset"), sizes: i.getAttribute("sizes"),
}))"""


def pictures(tab: Tab, count: int) -> list[dict[str, Any]]:
    """The first `count` product pictures on the page, once every one of them has loaded."""
    tab.page.wait_for_function(LOADED, arg=count, timeout=20_000)
    described: list[dict[str, Any]] = tab.page.evaluate(DESCRIBE)
    return described[:count]


def test_the_catalog_shows_a_loaded_picture_with_alt_text_for_each_product(tab: Tab) -> None:
    tab.open("/?category=coffee")

    shown = pictures(tab, 8)

    for image in shown:
        assert image["natural"] > 0, image  # not a broken image
        assert image["alt"], image
        assert image["current"].endswith(".webp"), image  # a rendition from the srcset
        assert "320w" in image["srcset"] and "640w" in image["srcset"], image
        assert image["sizes"], image
    assert len({image["alt"] for image in shown}) == len(shown)


def test_a_phone_gets_a_narrower_rendition_than_the_product_page(tab_factory: Any) -> None:
    phone = tab_factory(viewport=PHONE)
    phone.open("/?category=audio")
    (card,) = pictures(phone, 1)
    phone.page.get_by_role("list", name="Products").get_by_role("link").first.click()
    phone.page.locator("main h1").first.wait_for()
    (large,) = pictures(phone, 1)

    assert large["alt"] and large["natural"] > 0
    width = int(large["current"].rsplit(".", 2)[-2].removesuffix("w"))
    assert width >= int(card["current"].rsplit(".", 2)[-2].removesuffix("w"))


def test_pictures_are_cached_for_good(shop: Platform) -> None:
    listed = httpx.get(shop.gateway + "/api/catalog/products?limit=1&category=kitchen").json()
    url = listed["items"][0]["image_url"]

    for path in (url, url.replace(".svg", ".480w.webp")):
        response = httpx.get(shop.gateway + path)
        assert response.status_code == 200, path
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
