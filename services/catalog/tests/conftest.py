"""Catalog test fixtures: an app per test inside a rolled-back transaction, on each backend."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.models import Category, Product
from catalog.service import SERVICE
from chassis.events import Event
from chassis.registry import ServiceSpec
from chassis.testing import TokenMinter

_sequence = itertools.count(1)


@pytest.fixture(scope="session")
def service_spec() -> ServiceSpec:
    """The service under test; chassis.testing builds its app, client and session."""
    return SERVICE


@pytest.fixture
def admin(token_minter: TokenMinter) -> dict[str, str]:
    """Authorization header of an admin."""
    return token_minter.auth("admin-1", roles=("admin",))


@pytest.fixture
def customer(token_minter: TokenMinter) -> dict[str, str]:
    """Authorization header of a customer."""
    return token_minter.auth("user-1", roles=("customer",))


def make_category(session: Session, **overrides: Any) -> Category:
    """Store a category."""
    n = next(_sequence)
    category = Category(**{"slug": f"category-{n}", "name": f"Category {n}", **overrides})
    session.add(category)
    session.commit()
    return category


def make_product(session: Session, category: Category, **overrides: Any) -> Product:
    """Store a product; every field can be overridden."""
    n = next(_sequence)
    fields: dict[str, Any] = {
        "sku": f"SKU-{n:06d}",
        "slug": f"product-{n}",
        "name": f"Product {n}",
        "description": "A plain product.",
        "price_amount": 1000 + n,
        "currency": "EUR",
        "stock": 10,
        "active": True,
        "created_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=n),
        **overrides,
    }
    product = Product(category=category, **fields)
    session.add(product)
    session.commit()
    return product


def stock_of(session: Session, product: Product) -> int:
    """The stock in the database now (the ORM object may be stale after bulk updates)."""
    return session.execute(select(Product.stock).where(Product.id == product.id)).scalar_one()


def order_placed(order_id: str, items: list[tuple[int, int]]) -> Event:
    """An order.placed event as orders publishes it, for (product_id, quantity) items."""
    return Event.new(
        "order.placed",
        {
            "order_id": order_id,
            "customer_id": "user-1",
            "items": [{"product_id": p, "quantity": q} for p, q in items],
            "total": {"amount": 1000 * len(items), "currency": "EUR"},
            "payment_method_id": "pm-test",
        },
    )


def order_cancelled(order_id: str, reason: str = "customer changed their mind") -> Event:
    """An order.cancelled event as orders publishes it."""
    return Event.new(
        "order.cancelled", {"order_id": order_id, "customer_id": "user-1", "reason": reason}
    )
