"""Catalog test fixtures: an app per test inside a rolled-back transaction, on each backend."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest
from sqlalchemy.orm import Session

from catalog.models import Category, Product
from catalog.service import SERVICE
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
