"""The order saga, orchestrated here: what orders does when catalog and payments answer.

    order.placed ──▶ catalog ──stock.reserved──▶ order.payment_requested ──▶ payments
                            └─stock.rejected──▶ CANCELLED (order.cancelled)
    payments ──payment.authorized──▶ CONFIRMED (order.confirmed)
             └─payment.declined───▶ CANCELLED (order.cancelled: catalog releases stock)
    watchdog: PENDING past the deadline ──▶ CANCELLED "timed out" (order.cancelled)

Each handler runs in the worker's transaction with its inbox row (`handle_once`), so a
redelivered event has no second effect; the status checks make a re-sent fact (a new
event id) harmless too. Handlers lock the order's row, so the watchdog and a late answer
never both move the same order.
"""

from __future__ import annotations

import datetime as dt

from prometheus_client import Gauge
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chassis.db import Database, utcnow
from chassis.events import Event, Handler, publish
from chassis.events.spec import PeriodicTask
from chassis.logging import get_logger
from orders.models import Order, OrderStatus
from orders.order.service import Actor, find_order, record, transition
from orders.settings import OrdersSettings

log = get_logger("orders.saga")

WATCHDOG_BATCH = 100
PENDING_GAUGE_INTERVAL = 15.0

# Set by the worker's own task, apart from the watchdog, so a watchdog that stops cancelling
# shows as a growing age (the "orders stuck in PENDING" alert, deploy/prometheus).
ORDERS_PENDING = Gauge(
    "orders_pending", "Orders in PENDING, as last counted.", multiprocess_mode="livemax"
)
ORDERS_OLDEST_PENDING_AGE = Gauge(
    "orders_oldest_pending_age_seconds",
    "Age of the oldest PENDING order (0 when none is pending).",
    multiprocess_mode="livemax",
)


def _pending_order(session: Session, event: Event) -> Order | None:
    """The event's order, locked, if it is still PENDING; None (and why, logged) otherwise."""
    order_id = event.payload["order_id"]
    order = find_order(session, order_id, lock=True)
    if order is None:
        # Not ours (another environment's message, say): retrying would not help.
        log.warning("event for an unknown order ignored", event_type=event.type, order_id=order_id)
        return None
    if order.status != OrderStatus.PENDING:
        log.info(
            "event for a settled order ignored",
            event_type=event.type,
            order_id=order_id,
            status=order.status,
        )
        return None
    return order


def handle_stock_reserved(session: Session, event: Event) -> None:
    """Stock is held: ask payments to authorize the order's total."""
    order = _pending_order(session, event)
    if order is None or order.stock_reserved_at is not None:
        return
    order.stock_reserved_at = utcnow()
    record(order, "stock reserved")
    publish(
        session,
        "order.payment_requested",
        {
            "order_id": order.id,
            "customer_id": order.customer_id,
            "payment_method_id": order.payment_method_id,
            "amount": {"amount": order.total_amount, "currency": order.currency},
        },
    )
    session.flush()


def handle_stock_rejected(session: Session, event: Event) -> None:
    """Catalog could not reserve the stock: the order is cancelled with its reason."""
    order = _pending_order(session, event)
    if order is not None:
        reason = str(event.payload["reason"])
        transition(session, order, OrderStatus.CANCELLED, actor=Actor.SYSTEM, note=reason)


def handle_payment_authorized(session: Session, event: Event) -> None:
    """The total is authorized: the order is confirmed.

    A cancelled order stays cancelled (payments voids the authorization when it hears
    order.cancelled); an authorization of a different amount is never kept.
    """
    order = _pending_order(session, event)
    if order is None:
        return
    amount = event.payload["amount"]
    if (amount["amount"], amount["currency"]) != (order.total_amount, order.currency):
        log.error(
            "authorized amount differs from the order total",
            order_id=order.id,
            authorized=amount,
            total=order.total_amount,
        )
        transition(
            session,
            order,
            OrderStatus.CANCELLED,
            actor=Actor.SYSTEM,
            note="payment amount mismatch",
        )
        return
    transition(session, order, OrderStatus.CONFIRMED, actor=Actor.SYSTEM, note="payment authorized")


def handle_payment_declined(session: Session, event: Event) -> None:
    """The authorization was refused: the order is cancelled (catalog releases the stock)."""
    order = _pending_order(session, event)
    if order is not None:
        reason = f"payment declined: {event.payload['code']}"
        transition(session, order, OrderStatus.CANCELLED, actor=Actor.SYSTEM, note=reason)


HANDLERS: dict[str, Handler] = {
    "stock.reserved": handle_stock_reserved,
    "stock.rejected": handle_stock_rejected,
    "payment.authorized": handle_payment_authorized,
    "payment.declined": handle_payment_declined,
}


def expire_pending_orders(
    session: Session, *, deadline_seconds: float, now: dt.datetime | None = None
) -> int:
    """Cancel PENDING orders placed more than `deadline_seconds` ago ("timed out").

    One batch per call; rows another transaction holds are skipped, not waited for
    (PostgreSQL), and picked up on the next run if they are still PENDING.
    """
    cutoff = (now or utcnow()) - dt.timedelta(seconds=deadline_seconds)
    stmt = (
        select(Order)
        .where(Order.status == OrderStatus.PENDING, Order.created_at < cutoff)
        .order_by(Order.created_at)
        .limit(WATCHDOG_BATCH)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    stale = list(session.scalars(stmt))
    for order in stale:
        transition(session, order, OrderStatus.CANCELLED, actor=Actor.SYSTEM, note="timed out")
    if stale:
        log.info("watchdog cancelled stale orders", count=len(stale))
    return len(stale)


def watchdog(settings: OrdersSettings) -> PeriodicTask:
    """The periodic task that cancels orders stuck in PENDING."""

    def run(db: Database) -> int:
        with db.session() as session:
            return expire_pending_orders(
                session, deadline_seconds=settings.pending_deadline_seconds
            )

    return PeriodicTask(
        name="orders.pending-watchdog", interval=settings.watchdog_interval_seconds, run=run
    )


def pending_orders(session: Session, now: dt.datetime | None = None) -> tuple[int, float]:
    """(orders in PENDING, age in seconds of the oldest of them; 0 when none)."""
    stmt = select(func.count(), func.min(Order.created_at)).where(
        Order.status == OrderStatus.PENDING
    )
    count, oldest = session.execute(stmt).one()
    if oldest is None:
        return int(count), 0.0
    return int(count), max(0.0, ((now or utcnow()) - oldest).total_seconds())


def pending_gauges() -> PeriodicTask:
    """The periodic task that keeps the PENDING orders' gauges current."""

    def run(db: Database) -> tuple[int, float]:
        with db.session() as session:
            count, age = pending_orders(session)
        ORDERS_PENDING.set(count)
        ORDERS_OLDEST_PENDING_AGE.set(age)
        return count, age

    return PeriodicTask(name="orders.pending-gauges", interval=PENDING_GAUGE_INTERVAL, run=run)


def handlers(_: OrdersSettings) -> dict[str, Handler]:
    """The event types orders consumes and their handlers."""
    return dict(HANDLERS)


def tasks(settings: OrdersSettings) -> list[PeriodicTask]:
    """The periodic work of the orders worker."""
    return [watchdog(settings), pending_gauges()]
