"""Two workers on one order at once: the second waits for the first, so no money is left held.

These tests commit, so each runs on a database of its own rather than the shared one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

import pytest
from sqlalchemy import func, select

from chassis import migrations
from chassis.db import Database
from chassis.events import Event, handle_once, outbox_events
from chassis.testing import fresh_postgres_database
from payments.charges.handlers import payment_handlers
from payments.models import LedgerEntry, Payment
from payments.processor import PaymentProcessor
from payments.sandbox import SandboxProcessor
from payments.service import SERVICE

from ..conftest import make_method, order_event, payment_requested

assert SERVICE.migrations is not None


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated database of its own on each backend."""
    sqlite_url = f"sqlite:///{tmp_path / 'race.db'}"
    backend = (
        fresh_postgres_database() if request.param == "postgresql" else nullcontext(sqlite_url)
    )
    with backend as url:
        migrations.upgrade(SERVICE.migrations, url)
        db = Database(url)
        yield db
        db.dispose()


class SlowSandbox(SandboxProcessor):
    """A sandbox whose calls take 300 ms, saying when the first one has begun."""

    def __init__(self) -> None:
        self.started = threading.Event()
        super().__init__(delay_ms=300, sleep=self._slow)

    def _slow(self, seconds: float) -> None:
        self.started.set()
        time.sleep(seconds)


def deliver(db: Database, processor: PaymentProcessor, event: Event) -> None:
    """What the worker does with one message: one transaction, inbox and handler."""
    with db.session() as session:
        handle_once(session, event, payment_handlers(processor)[event.type])


def race(db: Database, first: Event, second: Event) -> list[BaseException]:
    """Deliver `first` on a slow processor and, while it is at the processor, `second`."""
    slow, errors = SlowSandbox(), []

    def run(processor: PaymentProcessor, event: Event) -> None:
        try:
            deliver(db, processor, event)
        except BaseException as exc:  # reported to the test, not lost in the thread
            errors.append(exc)

    a = threading.Thread(target=run, args=(slow, first))
    a.start()
    assert slow.started.wait(5)
    b = threading.Thread(target=run, args=(SandboxProcessor(), second))
    b.start()
    a.join(10)
    b.join(10)
    return errors


def test_a_cancellation_during_the_authorization_voids_it(database: Database) -> None:
    with database.session() as session:
        method = make_method(session)
    requested = payment_requested(method)
    order_id = requested.payload["order_id"]
    assert race(database, requested, order_event("order.cancelled", order_id)) == []
    with database.session() as session:
        payment = session.scalar(select(Payment))
        assert payment is not None
        assert payment.status == "voided"
        kinds = session.scalars(select(LedgerEntry.kind).order_by(LedgerEntry.position))
        assert list(kinds) == ["authorize", "void"]
        assert [e.type for e in outbox_events(session)] == ["payment.authorized", "payment.voided"]


def test_two_requests_for_one_order_at_once_authorize_once(database: Database) -> None:
    with database.session() as session:
        method = make_method(session)
    first = payment_requested(method)
    second = payment_requested(method, order_id=first.payload["order_id"])
    assert race(database, first, second) == []
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(LedgerEntry)) == 1
        assert [e.type for e in outbox_events(session)] == ["payment.authorized"]
