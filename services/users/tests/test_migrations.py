"""Migrations run up, down and up again, and match the models, on each backend."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from chassis import migrations
from chassis.db import create_db_engine
from chassis.testing import fresh_postgres_database
from users.models import Base
from users.service import SERVICE

assert SERVICE.migrations is not None
SCRIPTS = SERVICE.migrations


def _diff(url: str) -> list[Any]:
    engine = create_db_engine(url, pooled=False)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def _inspect(url: str) -> tuple[set[str], dict[str, dict[str, Any]]]:
    engine = create_db_engine(url, pooled=False)
    try:
        inspector = inspect(engine)
        tables = set(inspector.get_table_names())
        indexes = (
            {i["name"]: dict(i) for i in inspector.get_indexes("addresses")}
            if "addresses" in tables
            else {}
        )
        return tables, indexes
    finally:
        engine.dispose()


def _round_trip(url: str) -> None:
    migrations.upgrade(SCRIPTS, url)
    tables, indexes = _inspect(url)
    assert {"profiles", "addresses", "alembic_version"} <= tables
    assert indexes["uq_addresses_one_default"]["unique"]
    assert _diff(url) == []
    migrations.downgrade(SCRIPTS, url, "base")
    assert _inspect(url)[0] <= {"alembic_version"}
    migrations.upgrade(SCRIPTS, url)
    assert _diff(url) == []


def test_migrations_round_trip_on_sqlite(tmp_path: Any) -> None:
    _round_trip(f"sqlite:///{tmp_path / 'users.db'}")


def test_migrations_round_trip_on_postgresql() -> None:
    with fresh_postgres_database() as url:
        _round_trip(url)
