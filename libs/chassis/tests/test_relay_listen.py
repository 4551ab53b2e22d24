"""The relay's LISTEN on PostgreSQL: a committed event leaves at once, without polling."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import ClassVar

import sqlalchemy as sa

from chassis.db import Database
from chassis.events import add_event_tables, publish
from chassis.events.broker import connect
from chassis.events.relay import OutboxRelay
from chassis.events.tables import OUTBOX
from chassis.settings import ServiceSettings
from chassis.testing import fresh_postgres_database


class RelaySettings(ServiceSettings):
    """A made-up service on the embedded broker (the database is PostgreSQL)."""

    service_name: ClassVar[str] = "relaytest"


def _published(db: Database) -> bool:
    with db.session() as session:
        pending = session.execute(
            sa.select(sa.func.count()).select_from(OUTBOX).where(OUTBOX.c.published_at.is_(None))
        ).scalar_one()
        return pending == 0


def test_a_notify_wakes_the_relay_long_before_its_next_poll(tmp_path: Path) -> None:
    with fresh_postgres_database() as url:
        settings = RelaySettings(env="test", data_dir=tmp_path, database_url=url)
        db = Database(url)
        metadata = sa.MetaData()
        add_event_tables(metadata)
        metadata.create_all(db.engine)
        # Polls an hour apart: only a NOTIFY can make the relay look at the outbox in time.
        relay = OutboxRelay(
            db, connect(settings), idle_interval=3600, listening_interval=3600, service="relaytest"
        )
        stop = threading.Event()
        runner = threading.Thread(target=relay.run, args=(stop,), daemon=True)
        runner.start()
        try:
            deadline = time.monotonic() + 10
            while not relay.listening and time.monotonic() < deadline:
                time.sleep(0.02)
            assert relay.listening, "the relay never started listening"
            time.sleep(0.2)  # the wake-up of the listener's start has been spent
            with db.session() as session:
                publish(session, "stock.changed", {"product_id": 1, "stock": 5})
            committed = time.monotonic()
            while not _published(db) and time.monotonic() - committed < 5:
                time.sleep(0.01)
            waited = time.monotonic() - committed
            assert _published(db), "the relay did not wake on NOTIFY"
            assert waited < 1.0, f"published {waited:.2f} s after commit"
        finally:
            stop.set()
            runner.join(5)
            relay.close()
            db.dispose()
