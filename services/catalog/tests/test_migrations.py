"""Migrations run up, down and up again, and match the models, on each backend."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect

from catalog.models import Base
from catalog.service import SERVICE
from chassis.db import create_db_engine
from chassis.testing import assert_migrations_round_trip, fresh_postgres_database

assert SERVICE.migrations is not None
SCRIPTS = SERVICE.migrations
TABLES = {"categories", "products", "reservations", "reservation_items", "outbox", "inbox"}
# Full-text search exists on PostgreSQL only; the models stay portable.
POSTGRES_ONLY = {"search_vector", "ix_products_search"}


def test_migrations_round_trip_on_sqlite(tmp_path: Path) -> None:
    assert_migrations_round_trip(SCRIPTS, f"sqlite:///{tmp_path / 'c.db'}", Base.metadata, TABLES)


def test_migrations_round_trip_on_postgresql_with_full_text_search() -> None:
    with fresh_postgres_database() as url:
        assert_migrations_round_trip(SCRIPTS, url, Base.metadata, TABLES, ignore=POSTGRES_ONLY)
        engine = create_db_engine(url, pooled=False)
        try:
            columns = {c["name"] for c in inspect(engine).get_columns("products")}
            indexes = {i["name"] for i in inspect(engine).get_indexes("products")}
        finally:
            engine.dispose()
        assert "search_vector" in columns
        assert "ix_products_search" in indexes
