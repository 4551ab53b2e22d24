"""The services checkout reads from: catalog (prices, stock), users (addresses), payments.

Each call has a timeout, GETs are retried, and whatever goes wrong upstream (down, slow,
an unexpected answer) becomes one 503 problem: a checkout never fails with a 500.
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from typing import Annotated, TypeVar
from urllib.parse import quote

import httpx
from flask import current_app
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chassis.errors import ProblemError, ServiceUnavailable
from chassis.http import ClientPolicy, ServiceClient
from chassis.logging import get_logger
from orders.settings import OrdersSettings

log = get_logger("orders.upstreams")
# Catalog's largest page, and so the most products one `products()` call can ask for.
MAX_IDS = 100


class DependencyUnavailable(ServiceUnavailable):
    """A service the request needs is down, too slow, or answered nonsense."""

    slug, title = "dependency-unavailable", "A service this request needs is unavailable"


class _Answer(BaseModel):
    # Other services add fields over time; we read only what we need.
    model_config = ConfigDict(extra="ignore", frozen=True)


AnswerT = TypeVar("AnswerT", bound=_Answer)


class CatalogPrice(_Answer):
    """A product's price as catalog states it."""

    amount: Annotated[int, Field(ge=0, le=2**31 - 1)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class CatalogProduct(_Answer):
    """The fields of catalog's product that orders snapshots."""

    id: int
    sku: Annotated[str, Field(max_length=32)]
    name: Annotated[str, Field(max_length=200)]
    price: CatalogPrice
    stock: int
    active: bool


class CatalogPage(_Answer):
    """A page of catalog's product list, as far as orders reads it."""

    items: list[CatalogProduct]


class UserAddress(_Answer):
    """An address of the caller as users stores it."""

    name: Annotated[str, Field(max_length=120)]
    line1: Annotated[str, Field(max_length=200)]
    line2: Annotated[str | None, Field(max_length=200)] = None
    city: Annotated[str, Field(max_length=100)]
    postal_code: Annotated[str, Field(max_length=20)]
    region: Annotated[str | None, Field(max_length=100)] = None
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    phone: Annotated[str | None, Field(max_length=40)] = None


class Upstreams:
    """Pooled clients for catalog, users and payments, built on first use."""

    def __init__(self, settings: OrdersSettings) -> None:
        self._urls = {
            "catalog": settings.catalog_url,
            "users": settings.users_url,
            "payments": settings.payments_url,
        }
        self._timeout = settings.upstream_timeout_seconds
        self._max_in_flight = settings.upstream_bulkhead
        self._lock = threading.Lock()
        self._clients: dict[str, ServiceClient] = {}

    def _client(self, name: str) -> ServiceClient:
        # Built lazily: an httpx client loads the CA bundle, which an app that never
        # checks out (or a test) need not pay for.
        with self._lock:
            if name not in self._clients:
                policy = ClientPolicy(
                    name=name,
                    connect_timeout=min(1.0, self._timeout),
                    read_timeout=self._timeout,
                    retry_budget_seconds=self._timeout,
                    max_in_flight=self._max_in_flight,
                )
                self._clients[name] = ServiceClient(self._urls[name], policy)
            return self._clients[name]

    def _get(self, name: str, path: str, *, authorization: str | None = None) -> httpx.Response:
        headers = {"Authorization": authorization} if authorization else None
        try:
            response = self._client(name).request("GET", path, headers=headers)
        except ProblemError as exc:
            raise DependencyUnavailable(
                f"The {name} service is unavailable; try again.", headers={"Retry-After": "1"}
            ) from exc
        if response.status_code not in (200, 404):
            # A 401 here means users or payments cannot verify a token we accepted: a
            # configuration problem on our side of the platform, not the caller's fault.
            log.error(
                "unexpected upstream answer", upstream=name, path=path, status=response.status_code
            )
            raise DependencyUnavailable(f"The {name} service is unavailable; try again.")
        return response

    def _parse(self, name: str, model: type[AnswerT], response: httpx.Response) -> AnswerT:
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            log.error("malformed upstream answer", upstream=name, errors=exc.error_count())
            raise DependencyUnavailable(f"The {name} service answered unexpectedly.") from exc

    def product(self, product_id: int) -> CatalogProduct | None:
        """A product from catalog's public API; None when missing or inactive."""
        response = self._get("catalog", f"/products/{product_id}")
        if response.status_code == 404:
            return None
        product = self._parse("catalog", CatalogProduct, response)
        return product if product.active else None

    def products(self, product_ids: Collection[int]) -> dict[int, CatalogProduct]:
        """Those of the products for sale, by id, in one call (at most a page: 100 ids)."""
        if not product_ids:
            return {}
        ids = ",".join(str(i) for i in sorted(set(product_ids)))
        response = self._get("catalog", f"/products?ids={ids}&limit={MAX_IDS}")
        if response.status_code == 404:
            raise DependencyUnavailable("The catalog service answered unexpectedly.")
        page = self._parse("catalog", CatalogPage, response)
        return {p.id: p for p in page.items if p.active and p.id in product_ids}

    def address(self, address_id: str, *, authorization: str) -> UserAddress | None:
        """One of the caller's addresses (their token is forwarded); None when not theirs."""
        response = self._get(
            "users", f"/me/addresses/{quote(address_id, safe='')}", authorization=authorization
        )
        if response.status_code == 404:
            return None
        return self._parse("users", UserAddress, response)

    def has_payment_method(self, method_id: str, *, authorization: str) -> bool:
        """True when the caller has this payment method (their token is forwarded)."""
        response = self._get(
            "payments", f"/methods/{quote(method_id, safe='')}", authorization=authorization
        )
        return response.status_code == 200

    def close(self) -> None:
        """Close pooled connections."""
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()


def upstreams() -> Upstreams:
    """The current app's upstream clients."""
    found: Upstreams = current_app.extensions["orders.upstreams"]
    return found
