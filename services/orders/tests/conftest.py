"""Orders test fixtures: an app per test inside a rolled-back transaction, on each backend.

Catalog, users and payments are one stand-in HTTP server (`upstreams_standin.py`); the
status stream polls fast so its tests take milliseconds.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import stamina
from apiflask import APIFlask
from sqlalchemy.orm import Session

from chassis.db import utcnow
from chassis.registry import ServiceSpec
from chassis.testing import TokenMinter, rolled_back
from orders import create_app
from orders.models import Order, OrderHistory, OrderItem, OrderStatus
from orders.service import SERVICE
from orders.settings import OrdersSettings
from orders.upstreams import Upstreams

from .upstreams_standin import UpstreamsStandIn

ADDRESS_ID = "3f2c7a4e-1b2d-4c5e-8f90-a1b2c3d4e5f6"
METHOD_ID = "pm_test_visa"
_sequence = itertools.count(1)


@pytest.fixture(scope="session")
def service_spec() -> ServiceSpec:
    """The service under test; chassis.testing builds its database and session from it."""
    return SERVICE


@pytest.fixture(scope="session", autouse=True)
def no_retry_waits() -> Iterator[None]:
    """Upstream GETs are still retried, without the backoff sleeps."""
    with stamina.set_testing(True, attempts=3, cap=True):
        yield


@pytest.fixture(scope="session")
def upstreams_service() -> Iterator[UpstreamsStandIn]:
    """One stand-in for catalog, users and payments, for the whole session."""
    standin = UpstreamsStandIn()
    yield standin
    standin.close()


@pytest.fixture
def upstream(upstreams_service: UpstreamsStandIn) -> UpstreamsStandIn:
    """The stand-in, up and empty."""
    upstreams_service.reset()
    return upstreams_service


@pytest.fixture
def settings(
    migrated_url: str, token_minter: TokenMinter, upstream: UpstreamsStandIn, tmp_path: Path
) -> Any:
    """Test settings: the stand-in upstreams, a short timeout, a fast status stream."""
    return OrdersSettings(
        env="test",
        database_url=migrated_url,
        data_dir=tmp_path,
        jwt_public_key=token_minter.public_pem,
        catalog_url=upstream.url,
        users_url=upstream.url,
        payments_url=upstream.url,
        upstream_timeout_seconds=2.0,
        stream_poll_seconds=0.01,
        stream_heartbeat_seconds=5.0,
        stream_max_seconds=5.0,
    )


@pytest.fixture
def app(settings: OrdersSettings) -> Iterator[APIFlask]:
    """The orders app; everything it writes is rolled back, its connections closed."""
    application = create_app(settings)
    with rolled_back(application):
        yield application
    upstreams_of(application).close()


def upstreams_of(app: APIFlask) -> Upstreams:
    """The app's upstream clients."""
    found: Upstreams = app.extensions["orders.upstreams"]
    return found


@pytest.fixture
def customer(token_minter: TokenMinter) -> dict[str, str]:
    """Authorization header of customer A."""
    return token_minter.auth("user-a", roles=("customer",))


@pytest.fixture
def other(token_minter: TokenMinter) -> dict[str, str]:
    """Authorization header of customer B."""
    return token_minter.auth("user-b", roles=("customer",))


@pytest.fixture
def admin(token_minter: TokenMinter) -> dict[str, str]:
    """Authorization header of an admin."""
    return token_minter.auth("admin-1", roles=("admin",))


@pytest.fixture
def shop(upstream: UpstreamsStandIn) -> UpstreamsStandIn:
    """Two products, an address and a payment method upstream."""
    upstream.add_product(1, name="Hammer", price={"amount": 1500, "currency": "EUR"}, stock=5)
    upstream.add_product(2, name="Nails", price={"amount": 250, "currency": "EUR"}, stock=100)
    upstream.add_address(ADDRESS_ID)
    upstream.add_method(METHOD_ID)
    return upstream


def make_order(
    session: Session,
    customer_id: str = "user-a",
    *,
    status: OrderStatus = OrderStatus.PENDING,
    created_at: dt.datetime | None = None,
    total: int = 3000,
    **overrides: Any,
) -> Order:
    """Store an order directly (one item, one history row), as checkout would have."""
    n = next(_sequence)
    created = created_at or utcnow()
    order = Order(
        id=f"ord_{n:024x}",
        customer_id=customer_id,
        status=status,
        currency="EUR",
        subtotal_amount=total,
        total_amount=total,
        shipping_address={
            "name": "Ada Lovelace",
            "line1": "1 Market Street",
            "line2": None,
            "city": "Lisbon",
            "postal_code": "1100-148",
            "region": None,
            "country": "PT",
            "phone": None,
        },
        payment_method_id=METHOD_ID,
        version=1,
        created_at=created,
        updated_at=created,
        items=[
            OrderItem(
                product_id=1,
                sku="SKU-0001",
                name="Hammer",
                unit_price_amount=total // 2,
                quantity=2,
                line_total_amount=total // 2 * 2,
            )
        ],
        history=[OrderHistory(status=status, note="made by a test", at=created)],
        **overrides,
    )
    session.add(order)
    session.commit()
    return order


def checkout(
    client: Any,
    headers: dict[str, str],
    *,
    key: str | None = "key-1",
    address_id: str = ADDRESS_ID,
    payment_method_id: str = METHOD_ID,
) -> Any:
    """POST / with an Idempotency-Key (unless None)."""
    extra = {"Idempotency-Key": key} if key is not None else {}
    body = {"address_id": address_id, "payment_method_id": payment_method_id}
    return client.post("/", json=body, headers={**headers, **extra})
