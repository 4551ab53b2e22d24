"""The saga handlers as the worker runs them: through the inbox, redelivered, concurrently."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from catalog.models import Category, Product, Reservation, ReservationItem
from catalog.reservations.handlers import (
    handle_order_cancelled,
    handle_order_placed,
    saga_handlers,
)
from catalog.service import SERVICE
from catalog.settings import CatalogSettings
from chassis.db import Database
from chassis.events import Event, Handler, handle_once, outbox_events
from chassis.events.tables import INBOX, OUTBOX

from ..conftest import make_category, make_product, order_cancelled, order_placed, stock_of


@pytest.fixture
def product(session: Session) -> Product:
    """A product with 10 in stock."""
    return make_product(session, make_category(session), stock=10)


def test_the_worker_is_told_which_events_catalog_consumes() -> None:
    assert SERVICE.events is not None and SERVICE.events.handlers is not None
    settings = CatalogSettings(env="test", cache_enabled=False)
    handlers = SERVICE.events.handlers(settings)
    saga = saga_handlers(settings)
    assert {name: handlers[name] for name in saga} == saga
    # Its own change events too: they invalidate the response caches.
    assert set(handlers) == {"order.placed", "order.cancelled", "product.changed", "stock.changed"}


def test_a_redelivered_placed_event_reserves_once(session: Session, product: Product) -> None:
    event = order_placed("o-1", [(product.id, 3)])
    assert handle_once(session, event, handle_order_placed) is True
    assert handle_once(session, event, handle_order_placed) is False
    assert stock_of(session, product) == 7
    [reserved] = outbox_events(session, event_type="stock.reserved")
    assert reserved.payload == {"order_id": "o-1", "items": [{"product_id": product.id,
                                                              "quantity": 3}]}  # fmt: skip
    # What the handler publishes carries the saga's correlation id onwards.
    assert reserved.correlation_id == event.correlation_id


def test_another_placed_event_for_the_same_order_reserves_nothing_more(
    session: Session, product: Product
) -> None:
    handle_once(session, order_placed("o-1", [(product.id, 3)]), handle_order_placed)
    assert handle_once(session, order_placed("o-1", [(product.id, 3)]), handle_order_placed)
    assert stock_of(session, product) == 7
    assert len(outbox_events(session, event_type="stock.reserved")) == 1


def test_cancel_releases_once_under_redelivery_and_repeats(
    session: Session, product: Product
) -> None:
    handle_once(session, order_placed("o-1", [(product.id, 4)]), handle_order_placed)
    cancelled = order_cancelled("o-1")
    for event in (cancelled, cancelled, order_cancelled("o-1", "again")):
        handle_once(session, event, handle_order_cancelled)
    assert stock_of(session, product) == 10
    assert [e.payload for e in outbox_events(session, event_type="stock.released")] == [
        {"order_id": "o-1", "items": [{"product_id": product.id, "quantity": 4}]}
    ]


def test_cancel_before_placed_answers_the_late_placed_with_a_rejection(
    session: Session, product: Product
) -> None:
    handle_once(session, order_cancelled("o-1"), handle_order_cancelled)
    handle_once(session, order_placed("o-1", [(product.id, 1)]), handle_order_placed)
    assert stock_of(session, product) == 10
    [rejected] = outbox_events(session, event_type="stock.rejected")
    assert rejected.payload == {"order_id": "o-1", "reason": "order cancelled", "product_id": None}


@dataclass(frozen=True)
class Race:
    """A product in a real, committed PostgreSQL database, and a way to hit it at once."""

    db: Database
    product: Product
    prefix: str  # every order id of the test starts with it

    def run(self, work: list[tuple[Event, Handler]]) -> None:
        """Handle every event in its own thread and transaction, all released together."""
        start = threading.Barrier(len(work))

        def handle(job: tuple[Event, Handler]) -> bool:
            start.wait()
            with self.db.session() as session:
                return handle_once(session, *job)

        with ThreadPoolExecutor(max_workers=len(work)) as pool:
            assert all(pool.map(handle, work))

    def outcomes(self, session: Session) -> Counter[str]:
        """How many events of each type were published about the test's orders."""
        return Counter(
            event.type
            for event in outbox_events(session)
            if str(event.payload.get("order_id", "")).startswith(self.prefix)
        )


@pytest.fixture
def race(migrated_url: str) -> Iterator[Race]:
    """A product with 10 in stock, committed (not in the rolled-back test transaction)."""
    if make_url(migrated_url).get_backend_name() != "postgresql":
        pytest.skip("SQLite has a single writer; races need PostgreSQL")
    db = Database(migrated_url)
    with db.session() as setup:
        category = make_category(setup)
        product = make_product(setup, category, stock=10)
        watermark = setup.scalar(sa.select(sa.func.coalesce(sa.func.max(OUTBOX.c.position), 0)))
        inbox_before = set(setup.scalars(sa.select(INBOX.c.event_id)))
    prefix = f"race-{uuid.uuid4().hex[:8]}-"
    try:
        yield Race(db, product, prefix)
    finally:
        # Other tests share this database: leave it as it was.
        with db.session() as cleanup:
            cleanup.execute(
                sa.delete(ReservationItem).where(ReservationItem.order_id.startswith(prefix))
            )
            cleanup.execute(sa.delete(Reservation).where(Reservation.order_id.startswith(prefix)))
            cleanup.execute(sa.delete(OUTBOX).where(OUTBOX.c.position > watermark))
            cleanup.execute(sa.delete(INBOX).where(INBOX.c.event_id.not_in(inbox_before)))
            cleanup.execute(sa.delete(Product).where(Product.id == product.id))
            cleanup.execute(sa.delete(Category).where(Category.id == category.id))
        db.dispose()


def test_fifty_concurrent_orders_for_ten_units_reserve_exactly_ten(race: Race) -> None:
    race.run(
        [(order_placed(f"{race.prefix}{n}", [(race.product.id, 1)]), handle_order_placed)
         for n in range(50)]
    )  # fmt: skip
    with race.db.session() as check:
        statuses = check.execute(
            sa.select(Reservation.status, sa.func.count())
            .where(Reservation.order_id.startswith(race.prefix))
            .group_by(Reservation.status)
        ).all()
        assert dict(statuses) == {"reserved": 10, "rejected": 40}
        assert stock_of(check, race.product) == 0
        assert race.outcomes(check) == {"stock.reserved": 10, "stock.rejected": 40}


def test_racing_placed_and_cancelled_events_of_one_order_leave_stock_whole(race: Race) -> None:
    order_id = f"{race.prefix}1"
    work: list[tuple[Event, Handler]] = []
    for _ in range(5):
        work.append((order_placed(order_id, [(race.product.id, 3)]), handle_order_placed))
        work.append((order_cancelled(order_id), handle_order_cancelled))
    race.run(work)
    with race.db.session() as check:
        assert stock_of(check, race.product) == 10
        # Whoever won, the saga hears exactly one outcome, and a reservation is given back.
        assert race.outcomes(check) in (
            {"stock.reserved": 1, "stock.released": 1},
            {"stock.rejected": 1},
        )
