"""Query budgets: how many SQL statements the hot paths run, so a regression fails here.

Exact counts, as Saleor's query-count tests keep them: a change that adds a statement (or
saves one) updates the number here, on purpose and in review. Transaction control (BEGIN,
COMMIT, SAVEPOINT) is left out: it depends on the driver and on the tests' savepoints.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from catalog.models import Product
from catalog.reservations.handlers import handle_order_placed
from chassis.events import handle_once
from chassis.testing import count_queries

from .conftest import make_category, make_product, order_placed


@pytest.fixture
def products(session: Session) -> list[Product]:
    """Thirty active products in two categories."""
    tools, books = make_category(session), make_category(session)
    return [make_product(session, tools if n % 2 else books) for n in range(30)]


def engine_of(app: Any) -> Any:
    """The engine the app's sessions run on."""
    return app.extensions["bazaar"].db.engine


@pytest.mark.parametrize("query", ["limit=20", "limit=100", "sort=price_asc&category=category-1"])
def test_a_list_page_is_one_query(
    app: Any, client: FlaskClient, products: list[Product], query: str
) -> None:
    with count_queries(engine_of(app)) as queries:
        response = client.get(f"/products?{query}")
    assert response.status_code == 200
    assert queries.count == 1, queries.report()


def test_the_next_page_is_one_query(app: Any, client: FlaskClient, products: list[Product]) -> None:
    cursor = client.get("/products?limit=10").get_json()["next_cursor"]
    with count_queries(engine_of(app)) as queries:
        assert client.get(f"/products?limit=10&cursor={cursor}").status_code == 200
    assert queries.count == 1, queries.report()


def test_a_batch_of_ids_is_one_query(
    app: Any, client: FlaskClient, products: list[Product]
) -> None:
    ids = ",".join(str(p.id) for p in products)
    with count_queries(engine_of(app)) as queries:
        assert len(client.get(f"/products?ids={ids}&limit=100").get_json()["items"]) == 30
    assert queries.count == 1, queries.report()


def test_a_product_detail_is_one_query_with_its_category(
    app: Any, client: FlaskClient, products: list[Product]
) -> None:
    with count_queries(engine_of(app)) as queries:
        assert client.get(f"/products/{products[0].id}").status_code == 200
    assert queries.count == 1, queries.report()


def notify(session: Session) -> int:
    """The NOTIFY that wakes the relay when a transaction wrote to the outbox (PostgreSQL)."""
    return 1 if session.get_bind().dialect.name == "postgresql" else 0


@pytest.mark.parametrize("lines", [1, 5])
def test_reserving_stock_costs_six_queries_and_two_per_line(
    session: Session, products: list[Product], lines: int
) -> None:
    # Inbox claim, reservation lookup and insert, its items' load and one insert of them
    # all, `stock.reserved`; per line a guarded stock update and a `stock.changed` event.
    event = order_placed(f"o-budget-{lines}", [(p.id, 1) for p in products[:lines]])
    with count_queries(session.get_bind().engine) as queries:
        assert handle_once(session, event, handle_order_placed) is True
        session.commit()
    assert queries.count == 6 + 2 * lines + notify(session), queries.report()
