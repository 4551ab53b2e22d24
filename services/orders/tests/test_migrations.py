"""Migrations run up, down and up again, and match the models, on each backend."""

from __future__ import annotations

from pathlib import Path

from chassis.testing import assert_migrations_round_trip, fresh_postgres_database
from orders.models import Base
from orders.service import SERVICE

assert SERVICE.migrations is not None
SCRIPTS = SERVICE.migrations
TABLES = {
    "carts",
    "cart_items",
    "orders",
    "order_items",
    "order_history",
    "outbox",
    "inbox",
    "idempotency_keys",
}


def test_migrations_round_trip_on_sqlite(tmp_path: Path) -> None:
    assert_migrations_round_trip(SCRIPTS, f"sqlite:///{tmp_path / 'o.db'}", Base.metadata, TABLES)


def test_migrations_round_trip_on_postgresql() -> None:
    with fresh_postgres_database() as url:
        assert_migrations_round_trip(SCRIPTS, url, Base.metadata, TABLES)
