"""Migrations run up, down and up again, and match the models, on each backend."""

from __future__ import annotations

from pathlib import Path

from auth.models import Base
from auth.service import SERVICE
from chassis.testing import assert_migrations_round_trip, fresh_postgres_database

assert SERVICE.migrations is not None
SCRIPTS = SERVICE.migrations
TABLES = {
    "credentials",
    "refresh_families",
    "refresh_tokens",
    "signing_keys",
    "oauth_clients",
    "throttle_counters",
    "revoked_tokens",
    "authorization_codes",
    "external_logins",
    "external_identities",
}


def test_migrations_round_trip_on_sqlite(tmp_path: Path) -> None:
    assert_migrations_round_trip(SCRIPTS, f"sqlite:///{tmp_path / 'a.db'}", Base.metadata, TABLES)


def test_migrations_round_trip_on_postgresql() -> None:
    with fresh_postgres_database() as url:
        assert_migrations_round_trip(SCRIPTS, url, Base.metadata, TABLES)
