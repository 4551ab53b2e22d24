"""Catalog test fixtures: an app per test inside a rolled-back transaction, on each backend."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from catalog import create_app
from catalog.models import Category, Product
from catalog.service import SERVICE
from catalog.settings import CatalogSettings
from chassis import migrations
from chassis.testing import TokenMinter, rolled_back

_sequence = itertools.count(1)


@pytest.fixture(scope="session")
def migrated_url(database_url: str) -> str:
    """The session's database, migrated to head once."""
    assert SERVICE.migrations is not None
    migrations.upgrade(SERVICE.migrations, database_url)
    return database_url


@pytest.fixture
def settings(migrated_url: str, token_minter: TokenMinter) -> CatalogSettings:
    """Settings pointing at the test database and trusting the test token minter."""
    return CatalogSettings(
        env="test", database_url=migrated_url, jwt_public_key=token_minter.public_pem
    )


@pytest.fixture
def app(settings: CatalogSettings) -> Iterator[Any]:
    """The catalog app; everything it writes is rolled back after the test."""
    app = create_app(settings)
    with rolled_back(app):
        yield app


@pytest.fixture
def client(app: Any) -> FlaskClient:
    """A test client for the app."""
    return app.test_client()


@pytest.fixture
def session(app: Any) -> Iterator[Session]:
    """A session on the test transaction, for factories and checks."""
    session = app.extensions["bazaar"].db.session_factory()
    yield session
    session.close()


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
