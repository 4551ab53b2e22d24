"""The storefront's screenshots in docs/screenshots/, taken from a fresh `bazaar up`.

    uv run --no-sync python -m tests.browser.screenshots   # needs web/dist (make web)

Home, a product, a cart and a confirmed order, at 1280 x 800 in Debian's Chromium: the
same platform and browser set-up as the browser tests.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from .conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    STRICT_LIMITS,
    SUCCESS_CARD,
    WEB_DIST,
    Listed,
    Tab,
    launch,
)
from .test_product_images import LOADED
from .test_storefront import buy, expect, place_order, register, status_of

OUT = ROOT / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}
FIRST, SECOND = "nordic-camp-lantern", "heritage-pour-over-kettle"


def shoot(tab: Tab, name: str, pictures: int = 1) -> None:
    """Wait for the first `pictures` product pictures, then save the viewport."""
    if pictures:
        tab.page.wait_for_function(LOADED, arg=pictures, timeout=30_000)
    tab.page.screenshot(path=str(OUT / f"{name}.png"))
    print(f"docs/screenshots/{name}.png")


def add_to_cart(tab: Tab, slug: str) -> None:
    """Open a product's page and put one in the cart."""
    tab.open(f"/products/{slug}")
    tab.page.get_by_role("button", name="Add to cart").click()
    expect(tab.page.get_by_text("Added to your cart."))


def main() -> int:
    """Start the platform, walk through the shop, save four screenshots."""
    if not (WEB_DIST / "index.html").is_file():
        print("The storefront is not built: run `make web` first.", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    env = {
        "BAZAAR_GATEWAY_RATE_LIMIT_STRICT": json.dumps(STRICT_LIMITS),
        "BAZAAR_GATEWAY_WEB_DIR": str(WEB_DIST),
    }
    with (
        tempfile.TemporaryDirectory(prefix="bazaar-screenshots-") as root,
        launch(Path(root), env) as platform,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        context = browser.new_context(viewport=VIEWPORT, base_url=platform.gateway)
        context.set_default_timeout(20_000)
        tab = Tab(context.new_page(), platform.gateway, [])
        tab.open("/")
        shoot(tab, "home", pictures=10)
        tab.open(f"/products/{FIRST}")
        shoot(tab, "product")
        register(tab)
        add_to_cart(tab, FIRST)
        add_to_cart(tab, SECOND)
        tab.open("/cart")
        expect(tab.page.get_by_role("heading", level=1, name="Your cart"))
        shoot(tab, "cart", pictures=0)
        tab.open(f"/products/{SECOND}")
        buy(tab, Listed(0, "", "", {}), SUCCESS_CARD)
        place_order(tab)
        status_of(tab, "CONFIRMED")
        shoot(tab, "order", pictures=0)
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
