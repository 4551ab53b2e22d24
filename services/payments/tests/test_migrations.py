"""Migrations run up, down and up again, and match the models, on each backend."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from chassis.db import create_db_engine
from chassis.testing import assert_migrations_round_trip, fresh_postgres_database
from payments.models import Base
from payments.service import SERVICE

assert SERVICE.migrations is not None
SCRIPTS = SERVICE.migrations
TABLES = {
    "payment_methods",
    "payments",
    "ledger_entries",
    "cancelled_orders",
    "outbox",
    "inbox",
    "idempotency_keys",
}


def test_migrations_round_trip_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    assert_migrations_round_trip(SCRIPTS, url, Base.metadata, TABLES)
    engine = create_db_engine(url, pooled=False)
    try:
        with engine.connect() as connection:
            triggers = connection.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            ).scalars()
            assert set(triggers) == {"ledger_entries_no_update", "ledger_entries_no_delete"}
    finally:
        engine.dispose()


def test_migrations_round_trip_on_postgresql_with_the_ledger_trigger() -> None:
    with fresh_postgres_database() as url:
        # The second upgrade of the round trip would fail if the downgrade left the function.
        assert_migrations_round_trip(SCRIPTS, url, Base.metadata, TABLES)
        engine = create_db_engine(url, pooled=False)
        try:
            with engine.connect() as connection:
                triggers = connection.execute(
                    text(
                        "SELECT tgname FROM pg_trigger "
                        "WHERE tgrelid = 'ledger_entries'::regclass AND NOT tgisinternal"
                    )
                ).scalars()
                assert set(triggers) == {"ledger_entries_append_only", "ledger_entries_no_truncate"}
        finally:
            engine.dispose()
