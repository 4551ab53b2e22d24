"""Query budgets: how many SQL statements the cart and checkout run, so a regression fails.

Exact counts, as Saleor's query-count tests keep them: a change that adds a statement (or
saves one) updates the number here, on purpose and in review. Transaction control (BEGIN,
COMMIT, SAVEPOINT) is left out: it depends on the driver and on the tests' savepoints.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from chassis.testing import count_queries

from .conftest import checkout
from .upstreams_standin import UpstreamsStandIn


def engine_of(app: Any) -> Any:
    """The engine the app's sessions run on."""
    return app.extensions["bazaar"].db.engine


def notify(app: Any) -> int:
    """The NOTIFY that wakes the relay when a transaction wrote to the outbox (PostgreSQL)."""
    return 1 if engine_of(app).dialect.name == "postgresql" else 0


@pytest.fixture
def lines(request: pytest.FixtureRequest) -> int:
    """How many products the cart holds."""
    return int(request.param)


@pytest.fixture
def filled(
    client: FlaskClient, customer: dict[str, str], shop: UpstreamsStandIn, lines: int
) -> None:
    """Customer A's cart with `lines` products."""
    for product_id in range(1, lines + 1):
        shop.add_product(product_id, stock=100)
        response = client.put(f"/cart/items/{product_id}", json={"quantity": 2}, headers=customer)
        assert response.status_code == 200


@pytest.mark.parametrize("lines", [1, 10], indirect=True)
def test_reading_the_cart_is_two_queries_for_any_size(
    app: Any, client: FlaskClient, customer: dict[str, str], filled: None, lines: int
) -> None:
    with count_queries(engine_of(app)) as queries:
        response = client.get("/cart", headers=customer)
    assert len(response.get_json()["items"]) == lines
    # The cart, then its lines: however many lines it holds.
    assert queries.count == 2, queries.report()


@pytest.mark.parametrize("lines", [1, 10], indirect=True)
def test_changing_a_quantity_is_three_queries(
    app: Any, client: FlaskClient, customer: dict[str, str], filled: None, lines: int
) -> None:
    with count_queries(engine_of(app)) as queries:
        response = client.put("/cart/items/1", json={"quantity": 3}, headers=customer)
    assert response.status_code == 200
    # The locked cart, its lines, the one changed line.
    assert queries.count == 3, queries.report()


@pytest.mark.parametrize("lines", [1, 10], indirect=True)
def test_checkout_costs_the_same_for_any_cart_on_postgresql(
    app: Any, client: FlaskClient, customer: dict[str, str], filled: None, lines: int
) -> None:
    with count_queries(engine_of(app)) as queries:
        response = checkout(client, customer)
    assert response.status_code == 202, response.get_data(as_text=True)
    # The idempotency key's stored answer (read under its advisory lock on PostgreSQL, a
    # file lock beside the database on SQLite); the cart read, and read again under its
    # lock; order, history, lines, outbox row; the cart emptied; the stored answer. SQLite
    # returns each generated line id on its own, so there each line is one insert.
    postgresql = engine_of(app).dialect.name == "postgresql"
    line_inserts = 1 if postgresql else lines
    claim_lock = 1 if postgresql else 0
    assert queries.count == 10 + claim_lock + line_inserts + notify(app), queries.report()
