"""Catalog, users and payments as checkout sees them: one small HTTP server in a thread.

It answers `GET /products/{id}` and `GET /products?ids=…` (catalog, public),
`GET /me/addresses/{id}` (users) and `GET /methods/{id}` (payments) from dictionaries the
tests fill, records every request with its Authorization header, and can play a service
down (`down = {"catalog"}`: 503). `on_request`, when set, runs as each request arrives (a
test checks there what the caller holds meanwhile). Real HTTP, so the chassis
ServiceClient (timeouts, retries, breaker) is what is tested.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from chassis.testing import JsonHandler, ThreadedServer

ROUTES = (
    ("/products?", "catalog"),
    ("/products/", "catalog"),
    ("/me/addresses/", "users"),
    ("/methods/", "payments"),
)


@dataclass(frozen=True)
class Seen:
    """One request the stand-in answered."""

    service: str
    path: str
    authorization: str


def product_body(product_id: int, **overrides: Any) -> dict[str, Any]:
    """A product as catalog's `GET /products/{id}` renders it."""
    body: dict[str, Any] = {
        "id": product_id,
        "sku": f"SKU-{product_id:04d}",
        "slug": f"product-{product_id}",
        "name": f"Product {product_id}",
        "description": "A plain product.",
        "price": {"amount": 1000 + product_id, "currency": "EUR"},
        "category": {"id": 1, "slug": "things", "name": "Things"},
        "image_url": None,
        "stock": 10,
        "in_stock": True,
        "active": True,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
    }
    body.update(overrides)
    return body


def address_body(address_id: str, **overrides: Any) -> dict[str, Any]:
    """An address as users' `GET /me/addresses/{id}` renders it."""
    body: dict[str, Any] = {
        "id": address_id,
        "label": "Home",
        "name": "Ada Lovelace",
        "line1": "1 Market Street",
        "line2": None,
        "city": "Lisbon",
        "postal_code": "1100-148",
        "region": None,
        "country": "PT",
        "phone": None,
        "is_default": True,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
    }
    body.update(overrides)
    return body


class UpstreamsStandIn:
    """Products, addresses and payment methods the tests set up; every request recorded."""

    def __init__(self) -> None:
        self.products: dict[int, dict[str, Any]] = {}
        self.addresses: dict[str, dict[str, Any]] = {}
        self.methods: dict[str, dict[str, Any]] = {}
        self.down: set[str] = set()
        self.seen: list[Seen] = []
        self.on_request: Callable[[Seen], None] | None = None
        standin = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:
                for prefix, service in ROUTES:
                    if self.path.startswith(prefix):
                        key = self.path.removeprefix(prefix)
                        seen = Seen(service, self.path, self.headers.get("Authorization", ""))
                        standin.seen.append(seen)
                        if standin.on_request is not None:
                            standin.on_request(seen)
                        if service in standin.down:
                            self.reply(503, {"title": "Service Unavailable"})
                            return
                        if prefix == "/products?":
                            self.reply(200, standin._list(key))
                            return
                        self._reply_with(standin._find(service, key))
                        return
                self.reply(404, {"title": "Not Found"})

            def _reply_with(self, body: dict[str, Any] | None) -> None:
                if body is None:
                    self.reply(404, {"title": "Not Found"})
                else:
                    self.reply(200, body)

        self._server = ThreadedServer(Handler)

    def _list(self, query: str) -> dict[str, Any]:
        """Catalog's list filtered by `ids`: active products only, as catalog lists them."""
        ids = parse_qs(urlsplit("?" + query).query).get("ids", [""])[0].split(",")
        wanted = [self.products[int(i)] for i in ids if i.isdigit() and int(i) in self.products]
        return {"items": [p for p in wanted if p.get("active", True)], "next_cursor": None}

    def _find(self, service: str, key: str) -> dict[str, Any] | None:
        if service == "catalog":
            return self.products.get(int(key)) if key.isdigit() else None
        if service == "users":
            return self.addresses.get(key)
        return self.methods.get(key)

    @property
    def url(self) -> str:
        """Where orders finds all three services."""
        return self._server.url

    def add_product(self, product_id: int, **overrides: Any) -> dict[str, Any]:
        """Offer a product in the stand-in catalog."""
        self.products[product_id] = product_body(product_id, **overrides)
        return self.products[product_id]

    def add_address(self, address_id: str, **overrides: Any) -> dict[str, Any]:
        """Give the caller an address in the stand-in users service."""
        self.addresses[address_id] = address_body(address_id, **overrides)
        return self.addresses[address_id]

    def add_method(self, method_id: str) -> None:
        """Give the caller a payment method in the stand-in payments service."""
        self.methods[method_id] = {"id": method_id, "brand": "visa", "last4": "4242"}

    def authorizations(self, service: str) -> list[str]:
        """The Authorization headers `service` received."""
        return [s.authorization for s in self.seen if s.service == service]

    def reset(self) -> None:
        """Nothing offered, everything up, nothing seen."""
        self.products.clear()
        self.addresses.clear()
        self.methods.clear()
        self.down.clear()
        self.seen.clear()
        self.on_request = None

    def close(self) -> None:
        """Stop serving."""
        self._server.close()
