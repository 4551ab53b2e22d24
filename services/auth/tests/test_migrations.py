"""Migrations run up, down and up again, and match the models, on each backend."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from auth.models import Base
from auth.service import SERVICE
from chassis import migrations
from chassis.db import create_db_engine
from chassis.testing import fresh_postgres_database

assert SERVICE.migrations is not None
SCRIPTS = SERVICE.migrations
TABLES = {
    "credentials",
    "refresh_families",
    "refresh_tokens",
    "signing_keys",
    "oauth_clients",
    "throttle_counters",
}


def _diff(url: str) -> list[Any]:
    engine = create_db_engine(url, pooled=False)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = create_db_engine(url, pooled=False)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _round_trip(url: str) -> None:
    migrations.upgrade(SCRIPTS, url)
    assert {*TABLES, "alembic_version"} <= _tables(url)
    assert _diff(url) == []
    migrations.downgrade(SCRIPTS, url, "base")
    assert _tables(url) <= {"alembic_version"}
    migrations.upgrade(SCRIPTS, url)
    assert _diff(url) == []


def test_migrations_round_trip_on_sqlite(tmp_path: Any) -> None:
    _round_trip(f"sqlite:///{tmp_path / 'auth.db'}")


def test_migrations_round_trip_on_postgresql() -> None:
    with fresh_postgres_database() as url:
        _round_trip(url)
