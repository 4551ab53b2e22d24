"""Migrations run up, down and up again, and match the models, on each backend."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect

from chassis.db import create_db_engine
from chassis.testing import assert_migrations_round_trip, fresh_postgres_database
from users.models import Base
from users.service import SERVICE

assert SERVICE.migrations is not None
SCRIPTS = SERVICE.migrations
TABLES = {"profiles", "addresses"}


def _one_default_index_is_unique(url: str) -> bool:
    engine = create_db_engine(url, pooled=False)
    try:
        indexes = {i["name"]: i for i in inspect(engine).get_indexes("addresses")}
    finally:
        engine.dispose()
    return bool(indexes["uq_addresses_one_default"]["unique"])


def test_migrations_round_trip_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'u.db'}"
    assert_migrations_round_trip(SCRIPTS, url, Base.metadata, TABLES)
    assert _one_default_index_is_unique(url)


def test_migrations_round_trip_on_postgresql() -> None:
    with fresh_postgres_database() as url:
        assert_migrations_round_trip(SCRIPTS, url, Base.metadata, TABLES)
        assert _one_default_index_is_unique(url)
