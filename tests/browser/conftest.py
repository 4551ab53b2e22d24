"""The storefront in Debian's Chromium (Playwright), against the real platform (`bazaar up`).

The platform runs on embedded defaults, started once for the session by tests/system's
`launch()`; the gateway serves the built app from web/dist (`make web` builds it). Every test
saves a screenshot of its last page under test-output/browser/.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from chassis.testing import backend_missing, in_ci

ROOT = Path(__file__).resolve().parents[2]


def _system_conftest() -> ModuleType:
    """tests/system/conftest.py, imported by its path (test folders are no importable package)."""
    name = "bazaar_system_conftest"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "tests/system/conftest.py")
        assert spec is not None and spec.loader is not None
        sys.modules[name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[name]


# The same `bazaar up` in a temporary folder on free ports that the system tests use.
launch = _system_conftest().launch
Platform = _system_conftest().Platform
WEB_DIST = ROOT / "web" / "dist"
SCREENSHOTS = ROOT / "test-output" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 375, "height": 740}
# Every test signs in through the gateway from 127.0.0.1: more than the production
# 10/minute of the token endpoint, which protects real users from credential guessing.
STRICT_LIMITS = {
    "POST /api/auth/token": "300/minute",
    "POST /api/auth/register": "300/minute",
    "POST /api/auth/authorize": "300/minute",
}

DEMO_ADMIN = ("admin@bazaar.test", "demo-admin-password")
DEMO_CUSTOMER = ("customer@bazaar.test", "demo-customer-pass")
SUCCESS_CARD = "4242 4242 4242 4242"
DECLINE_CARD = "4000 0000 0000 0002"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (no downloaded browser)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        backend_missing("Playwright", "Install the dev dependencies: make install.")
    if not CHROMIUM.exists():
        backend_missing("Chromium", "Install Debian's chromium: apt-get install chromium.")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


class _BlankPage(BaseHTTPRequestHandler):
    """An empty HTML page: a site of its own, to run scripts from another origin."""

    def do_GET(self) -> None:
        body = b"<!doctype html><title>another site</title><p>another site</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@dataclass
class Sites:
    """Two pages on origins of their own: one the gateway allows (CORS), one it does not."""

    allowed: str
    refused: str


@pytest.fixture(scope="session")
def sites() -> Iterator[Sites]:
    """Serve the two other sites for the session."""
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _BlankPage) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    allowed, refused = (f"http://127.0.0.1:{server.server_address[1]}" for server in servers)
    yield Sites(allowed, refused)
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def shop(
    tmp_path_factory: pytest.TempPathFactory, browser: Any, sites: Sites
) -> Iterator[Platform]:
    """`bazaar up` on embedded defaults, serving the built storefront."""
    if not (WEB_DIST / "index.html").is_file():
        message = "The storefront is not built (web/dist). Run: make web"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    env = {
        "BAZAAR_GATEWAY_RATE_LIMIT_STRICT": json.dumps(STRICT_LIMITS),
        "BAZAAR_GATEWAY_WEB_DIR": str(WEB_DIST),
        "BAZAAR_GATEWAY_CORS_ORIGINS": sites.allowed,
    }
    with launch(tmp_path_factory.mktemp("browser"), env) as platform:
        yield platform


@pytest.fixture(scope="session", autouse=True)
def _fresh_screenshots() -> None:
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)


@dataclass
class Tab:
    """A page in its own browser context (own cookies), and what went wrong in it."""

    page: Any
    base: str
    errors: list[str]

    def open(self, path: str) -> None:
        """Navigate (a real page load) to a path of the shop."""
        self.page.goto(self.base + path)

    def expect_heading(self, text: str) -> None:
        """Wait until the page's h1 reads `text` (a client-side navigation may lag)."""
        from playwright.sync_api import expect

        expect(self.page.locator("main h1").first).to_have_text(text, timeout=10_000)


@pytest.fixture
def tab_factory(browser: Any, shop: Platform, request: pytest.FixtureRequest) -> Iterator[Any]:
    """`tab_factory(viewport=PHONE)`: a fresh context and page; screenshot at the end."""
    opened: list[tuple[Any, Tab]] = []

    def open_tab(viewport: dict[str, int] = DESKTOP) -> Tab:
        context = browser.new_context(viewport=viewport, base_url=shop.gateway)
        context.set_default_timeout(10_000)
        page = context.new_page()
        tab = Tab(page, shop.gateway, [])
        # Uncaught exceptions and refused resources (the CSP) are bugs; failed API calls
        # (a 400 from a refresh without a cookie, say) are answers the app handles.
        page.on("pageerror", lambda error: tab.errors.append(f"page error: {error}"))
        page.on(
            "console",
            lambda message: (
                tab.errors.append(f"console: {message.text}")
                if message.type == "error" and "Content Security Policy" in message.text
                else None
            ),
        )
        opened.append((context, tab))
        return tab

    yield open_tab
    name = re.sub(r"[^\w.-]+", "_", request.node.name)
    for index, (context, tab) in enumerate(opened):
        suffix = f"-{index + 1}" if len(opened) > 1 else ""
        try:
            tab.page.screenshot(path=str(SCREENSHOTS / f"{name}{suffix}.png"), full_page=True)
        finally:
            context.close()
    errors = [error for _, tab in opened for error in tab.errors]
    assert not errors, errors


@pytest.fixture
def tab(tab_factory: Any) -> Tab:
    """One desktop-sized tab (1440 px)."""
    return tab_factory()


def admin_token(platform: Platform) -> str:
    """The demo admin's access token, from auth directly (not counted by the gateway)."""
    response = httpx.post(
        platform.env["BAZAAR_AUTH_URL"] + "/token",
        data={"grant_type": "password", "username": DEMO_ADMIN[0], "password": DEMO_ADMIN[1]},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@dataclass
class Listed:
    """A product made for one test, so tests never share stock or search results."""

    id: int
    name: str
    word: str  # unique to this product: searching for it finds it alone
    price: dict[str, Any]


@pytest.fixture
def product(shop: Platform) -> Listed:
    """A fresh product with plenty of stock, for €24.90."""
    word = "zx" + uuid.uuid4().hex[:8]
    name = f"Browser Lantern {word}"
    price = {"amount": 2490, "currency": "EUR"}
    body = {
        "sku": "WEB-" + word.upper(),
        "name": name,
        "description": "A lantern made for the browser tests.",
        "price": price,
        "category": "outdoor",
        "stock": 50,
    }
    response = httpx.post(
        shop.env["BAZAAR_CATALOG_URL"] + "/products",
        json=body,
        headers={"Authorization": "Bearer " + admin_token(shop)},
    )
    assert response.status_code == 201, response.text
    return Listed(int(response.json()["id"]), name, word, price)


def placed_order(platform: Platform, product: Listed) -> str:
    """A confirmed order of `product` by a new customer, placed through the services' APIs."""
    env = platform.env
    email, password = f"api-{uuid.uuid4().hex[:10]}@example.com", "an api-made customer passphrase"
    registered = httpx.post(
        env["BAZAAR_AUTH_URL"] + "/register",
        json={"email": email, "password": password, "display_name": "Ada API"},
    )
    assert registered.status_code == 201, registered.text
    token = httpx.post(
        env["BAZAAR_AUTH_URL"] + "/token",
        data={"grant_type": "password", "username": email, "password": password},
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    address = httpx.post(
        env["BAZAAR_USERS_URL"] + "/me/addresses",
        headers=headers,
        json={"name": "Ada API", "line1": "3 Queue Lane", "city": "Porto",
              "postal_code": "4000-001", "country": "PT"},
    )  # fmt: skip
    card = httpx.post(
        env["BAZAAR_PAYMENTS_URL"] + "/methods",
        headers=headers,
        json={"card_number": SUCCESS_CARD, "exp_month": 12, "exp_year": 2040, "cvc": "123"},
    )
    cart = httpx.put(
        f"{env['BAZAAR_ORDERS_URL']}/cart/items/{product.id}", headers=headers, json={"quantity": 1}
    )
    assert (address.status_code, card.status_code, cart.status_code) == (201, 201, 200)
    order = httpx.post(
        env["BAZAAR_ORDERS_URL"] + "/",
        headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
        json={"address_id": address.json()["id"], "payment_method_id": card.json()["id"]},
    )
    assert order.status_code == 202, order.text
    order_id = str(order.json()["id"])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = httpx.get(f"{env['BAZAAR_ORDERS_URL']}/{order_id}", headers=headers).json()
        if status["status"] == "CONFIRMED":
            return order_id
        assert status["status"] == "PENDING", status
        time.sleep(0.1)
    raise AssertionError(f"order {order_id} was not confirmed in time")
