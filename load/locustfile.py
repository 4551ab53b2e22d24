"""Shoppers for `make load`: Locust users who use the shop through the gateway, as people do.

Two kinds of user. A `Browser` is anonymous: the storefront's home page, the product list by
category and sort, product pages, search, the next page. A `Shopper` signs up (a new account
each), adds an address and three sandbox cards, browses, edits the cart, checks out and
follows the order's status stream (SSE) until it is confirmed or cancelled, within a bound.

Each checkout ends as one `ORDER` row in the statistics: `confirmed`, or `declined by the
sandbox` (the decline and insufficient-funds test cards, about one checkout in five), both
successes; any other end (a processing error, an order stuck past the bound, out of stock)
is a failure. Against a gateway on a loopback address every user connects from an address
of its own (127.0.x.y), so the per-IP rate limits meet many clients, as in a real shop.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import random
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

from locust import HttpUser, between, events, task
from locust.env import Environment
from requests.adapters import HTTPAdapter

# The sandbox's test cards (payments/sandbox.py): the first approves, the others decline.
CARDS = {
    "approve": "4242 4242 4242 4242",
    "card_declined": "4000 0000 0000 0002",
    "insufficient_funds": "4000 0000 0000 9995",
}
CARD_WEIGHTS = {"approve": 8, "card_declined": 1, "insufficient_funds": 1}
SANDBOX_DECLINES = {f"payment declined: {code}" for code in CARDS if code != "approve"}
SEARCHES = ("lamp", "oak", "kettle", "backpack", "walnut", "yoga mat", "canvas tote", "speaker")
CATEGORIES = ("kitchen", "coffee", "outdoor", "office", "audio", "home", "garden", "fitness")
SORTS = ("newest", "price_asc", "price_desc", "name")
# How long a shopper watches an order's stream for its final status.
ORDER_BOUND_SECONDS = 30.0
FINAL = {"CONFIRMED", "CANCELLED"}
_addresses = itertools.count(2)


class SourceAddressAdapter(HTTPAdapter):
    """Connections from one local address, so each simulated shopper is its own client."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """Bind every pooled connection to the address."""
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def _loopback(host: str | None) -> bool:
    name = urlsplit(host or "").hostname or ""
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback and ipaddress.ip_address(name).version == 4
    except ValueError:
        return False


class ShopUser(HttpUser):
    """What every user of the shop does: look at products (the steps; subclasses pick)."""

    abstract = True
    wait_time = between(1, 3)

    def on_start(self) -> None:
        """An address of its own on loopback; the first page of products."""
        if _loopback(self.host):
            n = next(_addresses)
            address = f"127.0.{(n >> 8) % 256}.{n % 256}"
            self.client.mount("http://", SourceAddressAdapter(address))
        self.products: list[dict[str, Any]] = []
        self.cursor: str | None = None
        # A cursor continues the list it came from: its filters and sort go with it.
        self.cursor_params: dict[str, Any] = {}
        self.client.get("/", name="/ (storefront)")
        self.client.get("/api/catalog/categories")
        self.list_products({"limit": 24})

    def pause(self) -> None:
        """Think, as a person does between two clicks (the user's wait_time)."""
        self.wait()  # type: ignore[no-untyped-call]

    def list_products(self, params: dict[str, Any], name: str = "") -> None:
        """One page of the product list; remembers its products and next cursor."""
        response = self.client.get(
            "/api/catalog/products", params=params, name=name or "/api/catalog/products"
        )
        if response.ok:
            page = response.json()
            self.products = page["items"] or self.products
            self.cursor = page["next_cursor"]
            self.cursor_params = {k: v for k, v in params.items() if k != "cursor"}

    def browse_category(self) -> None:
        """A category, in one of the storefront's sort orders."""
        params = {"category": random.choice(CATEGORIES), "sort": random.choice(SORTS), "limit": 24}
        self.list_products(params, name="/api/catalog/products?category=[c]&sort=[s]")

    def view_product(self) -> None:
        """A product page."""
        if self.products:
            product = random.choice(self.products)
            self.client.get(
                f"/api/catalog/products/{product['id']}", name="/api/catalog/products/[id]"
            )

    def search(self) -> None:
        """A search, as typed in the storefront's box."""
        params = {"q": random.choice(SEARCHES), "limit": 24}
        self.list_products(params, name="/api/catalog/products?q=[q]")

    def next_page(self) -> None:
        """The next page of the last list."""
        if self.cursor:
            params = {**self.cursor_params, "cursor": self.cursor}
            self.list_products(params, name="/api/catalog/products?cursor=[cursor]")


class Browser(ShopUser):
    """An anonymous visitor: browsing and search only."""

    weight = 3
    # Weighted by repetition: four of these in eleven are category pages, and so on.
    tasks = [
        *[ShopUser.browse_category] * 4,
        *[ShopUser.view_product] * 4,
        *[ShopUser.search] * 2,
        ShopUser.next_page,
    ]


class Shopper(ShopUser):
    """A new customer: signs up, then visits after visit fills a cart and checks out."""

    weight = 2
    wait_time = between(0.5, 2)  # clicks in a checkout flow come faster than browsing

    def on_start(self) -> None:
        """Sign up and in; an address and the sandbox's cards."""
        super().on_start()
        self.email = f"load-{uuid.uuid4().hex[:16]}@example.com"
        self.password = "a long load-test passphrase " + uuid.uuid4().hex[:8]
        self.headers: dict[str, str] = {}
        self.cart: set[int] = set()
        body = {"email": self.email, "password": self.password, "display_name": "Load Shopper"}
        self.client.post("/api/auth/register", json=body)
        self.sign_in()
        address = self.client.post(
            "/api/users/me/addresses",
            headers=self.headers,
            json={"name": "Load Shopper", "line1": "1 Market Street", "city": "Lisbon",
                  "postal_code": "1100-001", "country": "PT"},
        )  # fmt: skip
        self.address_id = address.json()["id"] if address.ok else None
        self.cards: dict[str, str] = {}
        for behaviour, number in CARDS.items():
            card = self.client.post(
                "/api/payments/methods",
                headers=self.headers,
                json={"card_number": number, "exp_month": 12, "exp_year": 2035, "cvc": "123"},
            )
            if card.ok:
                self.cards[behaviour] = card.json()["id"]

    def sign_in(self) -> None:
        """The password grant (first-party, development), as the command-line client does."""
        response = self.client.post(
            "/api/auth/token",
            data={"grant_type": "password", "username": self.email, "password": self.password},
        )
        if response.ok:
            self.headers = {"Authorization": "Bearer " + response.json()["access_token"]}
            self.signed_in_at = time.monotonic()

    def _fresh(self) -> dict[str, str]:
        # Access tokens live 15 minutes: sign in again a little before.
        if time.monotonic() - getattr(self, "signed_in_at", 0.0) > 13 * 60:
            self.sign_in()
        return self.headers

    def _in_stock(self) -> dict[str, Any] | None:
        candidates = [p for p in self.products if p.get("stock", 0) >= 5]
        return random.choice(candidates) if candidates else None

    @task
    def shop(self) -> None:
        """One visit: look around, fill the cart, change it, pay, watch the order."""
        self.browse_category()
        self.pause()
        for _ in range(random.randint(1, 2)):
            self.view_product()
            self.pause()
        if random.random() < 0.5:
            self.search()
            self.pause()
        for _ in range(random.randint(1, 2)):
            self.add_to_cart()
            self.pause()
        if random.random() < 0.3:
            self.change_cart()
            self.pause()
        self.checkout()
        if random.random() < 0.3:
            self.pause()
            self.client.get("/api/orders", params={"limit": 10}, headers=self._fresh())

    def add_to_cart(self) -> None:
        """Put one or two of a product in the cart; look at the cart."""
        product = self._in_stock()
        if product is not None:
            response = self.client.put(
                f"/api/orders/cart/items/{product['id']}",
                json={"quantity": random.randint(1, 2)},
                headers=self._fresh(),
                name="/api/orders/cart/items/[id]",
            )
            if response.ok:
                self.cart.add(int(product["id"]))
        self.client.get("/api/orders/cart", headers=self._fresh())

    def change_cart(self) -> None:
        """Take a product out (when there are two), or change its quantity."""
        if len(self.cart) > 1:
            removed = self.cart.pop()
            self.client.delete(
                f"/api/orders/cart/items/{removed}",
                headers=self._fresh(),
                name="/api/orders/cart/items/[id]",
            )
        elif self.cart:
            self.client.put(
                f"/api/orders/cart/items/{next(iter(self.cart))}",
                json={"quantity": 3},
                headers=self._fresh(),
                name="/api/orders/cart/items/[id]",
            )
        self.client.get("/api/orders/cart", headers=self._fresh())

    def checkout(self) -> None:
        """Pay for the cart with a sandbox card; follow the order until it is settled."""
        if not self.cart or self.address_id is None or len(self.cards) < len(CARDS):
            return
        behaviour = random.choices(list(CARD_WEIGHTS), weights=list(CARD_WEIGHTS.values()))[0]
        headers = {**self._fresh(), "Idempotency-Key": str(uuid.uuid4())}
        body = {"address_id": self.address_id, "payment_method_id": self.cards[behaviour]}
        started = time.perf_counter()
        response = self.client.post("/api/orders", json=body, headers=headers)
        if not response.ok:
            return
        self.cart.clear()
        self.follow(response.json()["id"], started)

    def follow(self, order_id: str, started: float) -> None:
        """Read the order's status stream until a final status; one ORDER row for its end."""
        order: dict[str, Any] = {}
        deadline = time.monotonic() + ORDER_BOUND_SECONDS
        with self.client.get(
            f"/api/orders/{order_id}/events",
            headers={**self._fresh(), "Accept": "text/event-stream"},
            name="/api/orders/[id]/events",
            stream=True,
            timeout=(5, ORDER_BOUND_SECONDS),
            catch_response=True,
        ) as stream:
            if not stream.ok:
                stream.failure(f"status stream answered {stream.status_code}")
                return
            for line in stream.iter_lines(decode_unicode=True):
                if line and line.startswith("data:"):
                    order = json.loads(line.removeprefix("data:"))
                    if order.get("status") in FINAL or time.monotonic() > deadline:
                        break
                elif time.monotonic() > deadline:
                    break
            stream.success()
        self.record(order, started)

    def record(self, order: dict[str, Any], started: float) -> None:
        """The order's end as a statistics row: its time from checkout to the final status."""
        status, reason = order.get("status"), order.get("cancel_reason")
        if status == "CONFIRMED":
            outcome, error = "confirmed", None
        elif status == "CANCELLED" and reason in SANDBOX_DECLINES:
            outcome, error = "declined by the sandbox", None
        elif status == "CANCELLED":
            outcome, error = "cancelled", Exception(f"cancelled: {reason}")
        else:
            outcome, error = "unsettled", Exception(f"still {status} after {ORDER_BOUND_SECONDS}s")
        events.request.fire(  # type: ignore[no-untyped-call]
            request_type="ORDER",
            name=outcome,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=error,
            context={},
        )


@events.quitting.add_listener  # type: ignore[untyped-decorator]
def _summary(environment: Environment, **_: Any) -> None:
    """One line to read after a headless run: requests, failures, and how orders ended."""
    stats = environment.stats
    ends = {
        entry.name: entry.num_requests
        for (name, method), entry in stats.entries.items()
        if method == "ORDER"
    }
    print(
        f"Load summary: {stats.total.num_requests} requests, {stats.total.num_failures} failures;"
        f" orders: {json.dumps(ends)}"
    )
