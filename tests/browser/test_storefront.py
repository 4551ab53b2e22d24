"""A customer's and an admin's way through the storefront, in a real browser.

One platform for the module (embedded defaults); each test has its own browser context,
its own customer and its own product, and leaves a screenshot in test-output/browser/.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from typing import Any

import pytest
from playwright.sync_api import Error as PlaywrightError

from .conftest import (
    DECLINE_CARD,
    DEMO_ADMIN,
    DEMO_CUSTOMER,
    PHONE,
    SUCCESS_CARD,
    Listed,
    Tab,
    placed_order,
)

pytestmark = pytest.mark.system

PASSWORD = "a long browser-test passphrase"


def expect(locator: Any, timeout: float = 10_000) -> Any:
    """Wait until the locator shows, and hand it back."""
    locator.first.wait_for(state="visible", timeout=timeout)
    return locator


def register(tab: Tab) -> str:
    """Sign up as a new customer through the form; signed in after it."""
    email = f"shopper-{uuid.uuid4().hex[:10]}@example.com"
    tab.open("/register")
    page = tab.page
    page.get_by_label("Your name").fill("Sam Shopper")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("button", name="Log out"))
    return email


def log_in(tab: Tab, email: str, password: str) -> None:
    """Log in through the form."""
    tab.open("/login")
    page = tab.page
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out"))


def find(tab: Tab, product: Listed) -> None:
    """Search the catalog for the product and open its page."""
    page = tab.page
    page.get_by_role("link", name="Shop", exact=True).click()
    page.get_by_label("Search").fill(product.word)
    products = page.get_by_role("list", name="Products")
    expect(products.get_by_role("link", name=product.name)).click()
    expect(page.get_by_role("heading", level=1, name=product.name))


def buy(tab: Tab, product: Listed, card: str, quantity: int = 1) -> None:
    """From the product page: cart, a new address, a new card, then place the order."""
    page = tab.page
    page.get_by_label("Quantity").fill(str(quantity))
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_text("Added to your cart.")).get_by_role("link", name="View cart")
    page.get_by_role("link", name="View cart").click()
    expect(page.get_by_role("heading", level=1, name="Your cart"))
    page.get_by_role("link", name="Go to checkout").click()

    expect(page.get_by_role("heading", level=1, name="Checkout"))
    address = page.get_by_role("form", name="New address")
    address.get_by_label("Full name").fill("Sam Shopper")
    address.get_by_label("Address line 1").fill("1 Market Street")
    address.get_by_label("Postal code").fill("1100-001")
    address.get_by_label("City").fill("Lisbon")
    address.get_by_label("Country code").fill("PT")
    address.get_by_role("button", name="Save address").click()
    expect(page.get_by_role("radio", name=re.compile("1 Market Street")))

    card_form = page.get_by_role("form", name="New card")
    card_form.get_by_label("Card number").fill(card)
    card_form.get_by_label("CVC").fill("123")
    card_form.get_by_role("button", name="Save card").click()
    expect(page.get_by_role("radio", name=re.compile(f"ending {card[-4:]}")))
    assert page.get_by_role("radio", name=re.compile(f"ending {card[-4:]}")).is_checked()


FOCUSED_NAME = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return "";
  const label = el.labels && el.labels[0] ? el.labels[0].innerText : "";
  return (label || el.getAttribute("aria-label") || el.innerText || "").trim();
}"""


def tab_to(tab: Tab, name: str, limit: int = 40) -> None:
    """Press Tab until the focused control's name starts with `name`; its focus must show."""
    page = tab.page
    for _ in range(limit):
        page.keyboard.press("Tab")
        if str(page.evaluate(FOCUSED_NAME)).startswith(name):
            outline = page.evaluate(
                "() => { const s = getComputedStyle(document.activeElement);"
                " return [s.outlineStyle, parseFloat(s.outlineWidth)]; }"
            )
            assert outline[0] != "none" and outline[1] >= 2, f"no visible focus on {name}"
            return
    raise AssertionError(f"{name!r} is not reachable with the Tab key")


def buy_with_the_keyboard(tab: Tab, card: str, quantity: int) -> None:
    """From the product page to a placed order with Tab, typing, Space and Enter only."""
    keys = tab.page.keyboard
    tab_to(tab, "Quantity")
    keys.press("Control+A")
    keys.type(str(quantity))
    tab_to(tab, "Add to cart")
    keys.press("Enter")
    expect(tab.page.get_by_text("Added to your cart."))
    tab_to(tab, "View cart")
    keys.press("Enter")
    expect(tab.page.get_by_role("heading", level=1, name="Your cart"))
    tab_to(tab, "Go to checkout")
    keys.press("Enter")
    expect(tab.page.get_by_role("form", name="New address"))
    for label, value in [
        ("Full name", "Kim Keyboard"),
        ("Address line 1", "2 Tab Street"),
        ("Postal code", "1100-002"),
        ("City", "Lisbon"),
        ("Country code", "PT"),
    ]:
        tab_to(tab, label)
        keys.type(value)
    tab_to(tab, "Save address")
    keys.press("Enter")
    expect(tab.page.get_by_role("radio", name=re.compile("2 Tab Street")))
    tab_to(tab, card)  # the sandbox hint's button fills the card number in
    keys.press("Enter")
    tab_to(tab, "CVC")
    keys.type("123")
    tab_to(tab, "Save card")
    keys.press("Enter")
    expect(tab.page.get_by_role("radio", name=re.compile(f"ending {card[-4:]}")))
    tab.page.evaluate("window.__sameDocument = true")
    tab_to(tab, "Place order")
    keys.press("Enter")
    expect(tab.page.get_by_role("heading", level=1, name="Thank you for your order"))


def place_order(tab: Tab) -> None:
    """Press Place order with the keyboard, marking the page to prove it never reloads."""
    page = tab.page
    page.evaluate("window.__sameDocument = true")
    button = page.get_by_role("button", name="Place order")
    button.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1, name="Thank you for your order"))


def status_of(tab: Tab, status: str, timeout: float = 20_000) -> Any:
    """The order page's live status, once it reads `status`."""
    region = tab.page.locator(f'[role="status"][data-status="{status}"]')
    return expect(region, timeout)


def fits_the_screen(tab: Tab) -> bool:
    """No sideways scrolling: nothing is wider than the viewport."""
    return bool(tab.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_a_purchase_with_the_success_card_is_confirmed_live(tab: Tab, product: Listed) -> None:
    register(tab)
    find(tab, product)

    buy_with_the_keyboard(tab, SUCCESS_CARD, quantity=2)

    page = tab.page
    status_of(tab, "CONFIRMED")  # PENDING first, then CONFIRMED from the event stream
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"
    timeline = page.get_by_role("list", name="Status history").inner_text()
    assert "Pending" in timeline and "Confirmed" in timeline
    assert "€49.80" in page.locator(".review-total").inner_text()  # 2 x €24.90
    assert page.get_by_role("button", name=re.compile("Cancel order")).is_visible()
    assert page.get_by_role("link", name="Cart 0 items").is_visible()  # emptied by checkout


def test_a_declined_card_cancels_the_order_with_a_readable_message(
    tab_factory: Any, product: Listed
) -> None:
    tab = tab_factory(viewport=PHONE)
    register(tab)
    find(tab, product)
    assert fits_the_screen(tab)
    buy(tab, product, DECLINE_CARD)
    assert fits_the_screen(tab)

    place_order(tab)

    cancelled = status_of(tab, "CANCELLED")
    assert "Your card was declined." in cancelled.inner_text()
    assert "nothing was charged" in cancelled.inner_text()
    assert fits_the_screen(tab)


def test_an_admin_creates_a_product_that_a_customer_finds_by_search(tab: Tab) -> None:
    log_in(tab, *DEMO_ADMIN)
    page = tab.page
    page.get_by_role("link", name="Admin", exact=True).click()
    page.get_by_role("link", name="New product").first.click()
    expect(page.get_by_role("heading", level=1, name="New product"))
    word = "qv" + uuid.uuid4().hex[:8]
    name = f"Admin Kettle {word}"
    page.get_by_label("Name").fill(name)
    page.get_by_label("SKU").fill("ADM-" + word.upper())
    page.get_by_label("Description").fill("Made in the admin pages.")
    page.get_by_label("Price").fill("19.90")
    page.get_by_label("Category").select_option("coffee")
    page.get_by_label("Initial stock").fill("4")
    page.get_by_role("button", name="Create product").click()
    expect(page.get_by_text(f"{name} created."))
    page.get_by_label("Change by").fill("6")
    page.get_by_label("Reason").fill("Delivery from the supplier")
    page.get_by_role("button", name="Adjust stock").click()
    expect(page.get_by_text("Stock is now 10."))
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Log in"))

    log_in(tab, *DEMO_CUSTOMER)
    page.get_by_label("Search").fill(word)
    expect(page.get_by_role("list", name="Products").get_by_role("link", name=name)).click()

    expect(page.get_by_role("heading", level=1, name=name))
    assert "€19.90" in page.locator(".product-details").inner_text()
    assert "10 in stock" in page.locator(".product-details").inner_text()


def test_an_admin_ships_and_delivers_an_order_from_the_orders_list(
    tab: Tab, product: Listed, shop: Any
) -> None:
    order_id = placed_order(shop, product)
    log_in(tab, *DEMO_ADMIN)
    page = tab.page
    page.get_by_role("link", name="Admin", exact=True).click()
    page.get_by_role("navigation", name="Admin").get_by_role("link", name="Orders").click()
    page.get_by_label("Status").select_option("CONFIRMED")
    row = page.locator(".admin-order").filter(has_text=order_id)

    expect(row.get_by_role("button", name=f"Mark as shipped {order_id}")).click()
    expect(row.get_by_text("Shipped", exact=True))
    row.get_by_role("button", name=f"Mark as delivered {order_id}").click()
    expect(row.get_by_text("Delivered", exact=True))
    assert row.get_by_role("button").count() == 0  # nothing is allowed after DELIVERED

    row.get_by_role("link", name=order_id).click()
    status_of(tab, "DELIVERED")
    timeline = page.get_by_role("list", name="Status history").inner_text()
    assert "Shipped" in timeline and "Delivered" in timeline


def test_a_customer_cannot_open_the_admin_pages(tab: Tab) -> None:
    log_in(tab, *DEMO_CUSTOMER)
    page = tab.page
    assert page.get_by_role("link", name="Admin", exact=True).count() == 0

    for path in ("/admin", "/admin/products/new", "/admin/orders"):
        tab.open(path)
        tab.expect_heading("Admins only")
        assert "for administrators" in page.get_by_role("alert").inner_text()
        assert page.get_by_role("button", name="Create product").count() == 0

    # The API refuses too, whatever the page shows.
    status = page.evaluate(
        """async () => (await fetch('/api/catalog/products', {method: 'POST',
             headers: {'Content-Type': 'application/json'}, body: '{}'})).status"""
    )
    assert status == 401


def test_a_reload_on_a_deep_link_keeps_the_session(tab: Tab) -> None:
    email = register(tab)
    page = tab.page
    page.get_by_role("link", name="Account").click()
    expect(page.get_by_text(email))

    page.reload()  # the access token was in memory only: the refresh cookie brings it back

    tab.expect_heading("Your account")
    expect(page.get_by_text(email))
    assert page.url.endswith("/account")
    tab.open("/orders")  # a deep link typed into the address bar
    tab.expect_heading("Your orders")
    expect(page.get_by_text("You have not ordered anything yet."))

    cookies = {c["name"]: c for c in page.context.cookies()}
    refresh = cookies["bazaar_refresh"]
    assert (refresh["httpOnly"], refresh["path"], refresh["sameSite"]) == (
        True,
        "/api/auth",
        "Strict",
    )
    stored = page.evaluate(
        "JSON.stringify({...localStorage}) + JSON.stringify({...sessionStorage})"
    )
    assert "eyJ" not in stored and refresh["value"] not in stored  # no token in storage

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Log in"))
    page.reload()
    tab.open("/account")
    expect(page.get_by_role("heading", level=1, name="Log in"))
    assert "bazaar_refresh" not in {c["name"] for c in page.context.cookies()}


def test_the_code_flow_keeps_the_refresh_token_out_of_every_script_readable_answer(
    tab: Tab,
) -> None:
    page = tab.page
    readable: list[tuple[str, str]] = []  # (url, body) of answers page scripts could read
    issued: set[str] = set()  # every refresh token auth set as a cookie

    def record(response: Any) -> None:
        for header in response.headers_array():
            if header["name"].lower() == "set-cookie" and header["value"].startswith(
                "bazaar_refresh="
            ):
                value = header["value"].split(";")[0].removeprefix("bazaar_refresh=")
                if value:
                    issued.add(value)
        # fetch/XHR answers, and same-origin documents (a script may fetch those too).
        if response.request.resource_type in ("fetch", "xhr", "document") and not (
            300 <= response.status < 400
        ):
            # A body the browser already dropped is unreadable to scripts as well.
            with contextlib.suppress(PlaywrightError):
                readable.append((response.url, response.text()))

    page.on("response", record)

    register(tab)  # /register -> auth's page -> /auth/callback -> signed in
    assert page.url.startswith(tab.base + "/")
    page.reload()  # silent refresh through the cookie
    expect(page.get_by_role("button", name="Log out"))
    page.get_by_role("link", name="Account").click()
    tab.expect_heading("Your account")

    assert issued, "auth set no refresh cookie"
    assert any("/api/auth/token" in url for url, _ in readable)
    for url, body in readable:
        assert '"refresh_token"' not in body, url
        assert not any(token in body for token in issued), url
    assert "bazaar_refresh" not in page.evaluate("document.cookie")

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Log in"))
    assert "bazaar_refresh" not in {c["name"] for c in page.context.cookies()}
    page.reload()
    expect(page.get_by_role("link", name="Log in"))  # the reload did not sign back in


def test_a_sign_in_goes_through_auths_own_page_and_back(tab: Tab) -> None:
    tab.open("/orders")  # a signed-in page: on to /login, then to auth's page
    page = tab.page
    expect(page.get_by_label("Email"))
    assert "/api/auth/authorize?" in page.url
    assert "code_challenge_method=S256" in page.url
    page.get_by_label("Email").fill(DEMO_CUSTOMER[0])
    page.get_by_label("Password").fill("not the password at all")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert"))
    assert "wrong" in page.get_by_role("alert").inner_text()

    page.get_by_label("Password").fill(DEMO_CUSTOMER[1])
    page.get_by_role("button", name="Log in").click()

    expect(page.get_by_role("button", name="Log out"))
    assert page.url == tab.base + "/orders"
    tab.expect_heading("Your orders")
