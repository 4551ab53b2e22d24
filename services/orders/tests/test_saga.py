"""The saga's handlers and watchdog: one effect per fact, however often it arrives."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient
from prometheus_client import REGISTRY
from sqlalchemy.orm import Session

from chassis.db import utcnow
from chassis.events import Event, Handler, handle_once, outbox_events
from chassis.metrics import render_latest
from orders.models import Order, OrderStatus
from orders.saga import (
    expire_pending_orders,
    handle_payment_authorized,
    handle_payment_declined,
    handle_stock_rejected,
    handle_stock_reserved,
    handlers,
    pending_orders,
    tasks,
)
from orders.service import SERVICE
from orders.settings import OrdersSettings

from .conftest import METHOD_ID, checkout, make_order
from .upstreams_standin import UpstreamsStandIn


def reserved(order_id: str) -> Event:
    """catalog held the stock."""
    return Event.new(
        "stock.reserved", {"order_id": order_id, "items": [{"product_id": 1, "quantity": 2}]}
    )


def rejected(order_id: str) -> Event:
    """catalog could not hold the stock."""
    return Event.new(
        "stock.rejected",
        {"order_id": order_id, "reason": "out of stock: Hammer", "product_id": 1},
    )


def authorized(order_id: str, amount: int = 3000, currency: str = "EUR") -> Event:
    """payments authorized an amount."""
    return Event.new(
        "payment.authorized",
        {
            "order_id": order_id,
            "payment_id": "pay_1",
            "amount": {"amount": amount, "currency": currency},
        },
    )


def declined(order_id: str, code: str = "card_declined") -> Event:
    """payments refused."""
    return Event.new(
        "payment.declined",
        {"order_id": order_id, "payment_id": "pay_1", "code": code, "message": "Refused."},
    )


def deliver(session: Session, event: Event, handler: Handler, times: int = 2) -> list[bool]:
    """Hand the same event to the handler `times` times, committing like the worker does."""
    results = []
    for _ in range(times):
        results.append(handle_once(session, event, handler))
        session.commit()
    return results


def refreshed(session: Session, order: Order) -> Order:
    """The order as stored now."""
    session.expire_all()
    found = session.get(Order, order.id)
    assert found is not None
    return found


def payloads(session: Session, event_type: str) -> list[dict[str, Any]]:
    """Payloads of the outbox events of one type."""
    return [e.payload for e in outbox_events(session, event_type=event_type)]


def test_the_service_declares_its_handlers_and_watchdog() -> None:
    assert SERVICE.events is not None
    settings = OrdersSettings(env="test", database_url="sqlite://")
    assert set(handlers(settings)) == {
        "stock.reserved",
        "stock.rejected",
        "payment.authorized",
        "payment.declined",
    }
    watchdog, gauges = tasks(settings)
    assert watchdog.interval == 5.0
    assert gauges.name == "orders.pending-gauges" and gauges.interval == 15.0


def test_stock_reserved_asks_payments_once_even_when_redelivered(session: Session) -> None:
    order = make_order(session, total=3000)
    event = reserved(order.id)
    assert deliver(session, event, handle_stock_reserved) == [True, False]
    # The same fact sent again under a new id changes nothing either.
    assert deliver(session, reserved(order.id), handle_stock_reserved, times=1) == [True]
    order = refreshed(session, order)
    assert order.status == OrderStatus.PENDING
    assert order.stock_reserved_at is not None
    assert [h.note for h in order.history] == ["made by a test", "stock reserved"]
    assert payloads(session, "order.payment_requested") == [
        {
            "order_id": order.id,
            "customer_id": "user-a",
            "payment_method_id": METHOD_ID,
            "amount": {"amount": 3000, "currency": "EUR"},
        }
    ]


def test_stock_reserved_for_a_settled_order_is_ignored(session: Session) -> None:
    order = make_order(session, status=OrderStatus.CANCELLED)
    deliver(session, reserved(order.id), handle_stock_reserved)
    assert payloads(session, "order.payment_requested") == []


def test_an_event_for_an_unknown_order_is_ignored(session: Session) -> None:
    for event, handler in (
        (reserved("ord_ffffffffffffffffffffffff"), handle_stock_reserved),
        (authorized("not-ours"), handle_payment_authorized),
    ):
        assert deliver(session, event, handler, times=1) == [True]
    assert outbox_events(session) == []


def test_stock_rejected_cancels_with_the_reason_once(session: Session) -> None:
    order = make_order(session)
    event = rejected(order.id)
    assert deliver(session, event, handle_stock_rejected) == [True, False]
    deliver(session, rejected(order.id), handle_stock_rejected, times=1)
    order = refreshed(session, order)
    assert (order.status, order.cancel_reason) == (OrderStatus.CANCELLED, "out of stock: Hammer")
    assert payloads(session, "order.cancelled") == [
        {"order_id": order.id, "customer_id": "user-a", "reason": "out of stock: Hammer"}
    ]


def test_payment_authorized_confirms_once(session: Session) -> None:
    order = make_order(session, total=3000)
    deliver(session, reserved(order.id), handle_stock_reserved, times=1)
    assert deliver(session, authorized(order.id), handle_payment_authorized) == [True, False]
    deliver(session, authorized(order.id), handle_payment_authorized, times=1)
    order = refreshed(session, order)
    assert order.status == OrderStatus.CONFIRMED
    assert [h.status for h in order.history] == ["PENDING", "PENDING", "CONFIRMED"]
    assert payloads(session, "order.confirmed") == [{"order_id": order.id, "customer_id": "user-a"}]


def test_payment_authorized_after_a_cancel_leaves_it_cancelled(session: Session) -> None:
    order = make_order(session, status=OrderStatus.CANCELLED, cancel_reason="timed out")
    deliver(session, authorized(order.id), handle_payment_authorized)
    order = refreshed(session, order)
    assert (order.status, order.cancel_reason) == (OrderStatus.CANCELLED, "timed out")
    assert outbox_events(session) == []  # payments voids on the earlier order.cancelled


@pytest.mark.parametrize(("amount", "currency"), [(2999, "EUR"), (3000, "USD")])
def test_an_authorization_of_another_amount_cancels_the_order(
    session: Session, amount: int, currency: str
) -> None:
    order = make_order(session, total=3000)
    deliver(session, authorized(order.id, amount, currency), handle_payment_authorized, times=1)
    order = refreshed(session, order)
    assert (order.status, order.cancel_reason) == (OrderStatus.CANCELLED, "payment amount mismatch")
    assert len(payloads(session, "order.cancelled")) == 1


@pytest.mark.parametrize("code", ["card_declined", "insufficient_funds"])
def test_payment_declined_cancels_with_a_readable_reason_once(session: Session, code: str) -> None:
    order = make_order(session)
    assert deliver(session, declined(order.id, code), handle_payment_declined) == [True, False]
    order = refreshed(session, order)
    assert order.status == OrderStatus.CANCELLED
    assert order.cancel_reason == f"payment declined: {code}"
    assert order.history[-1].note == f"payment declined: {code}"
    assert payloads(session, "order.cancelled") == [
        {"order_id": order.id, "customer_id": "user-a", "reason": f"payment declined: {code}"}
    ]


def test_payment_declined_for_a_confirmed_order_changes_nothing(session: Session) -> None:
    order = make_order(session, status=OrderStatus.CONFIRMED)
    deliver(session, declined(order.id, "order_cancelled"), handle_payment_declined)
    assert refreshed(session, order).status == OrderStatus.CONFIRMED
    assert outbox_events(session) == []


def test_the_watchdog_cancels_only_pending_orders_past_the_deadline(session: Session) -> None:
    now = utcnow()
    stale = make_order(session, created_at=now - dt.timedelta(seconds=121))
    fresh = make_order(session, created_at=now - dt.timedelta(seconds=60))
    confirmed = make_order(
        session, status=OrderStatus.CONFIRMED, created_at=now - dt.timedelta(hours=1)
    )
    assert expire_pending_orders(session, deadline_seconds=120, now=now) == 1
    session.commit()
    assert expire_pending_orders(session, deadline_seconds=120, now=now) == 0
    assert refreshed(session, stale).cancel_reason == "timed out"
    assert refreshed(session, fresh).status == OrderStatus.PENDING
    assert refreshed(session, confirmed).status == OrderStatus.CONFIRMED
    assert payloads(session, "order.cancelled") == [
        {"order_id": stale.id, "customer_id": "user-a", "reason": "timed out"}
    ]


def test_the_watchdog_task_runs_in_its_own_unit_of_work(
    app: APIFlask, settings: OrdersSettings, session: Session
) -> None:
    stale = make_order(session, created_at=utcnow() - dt.timedelta(seconds=600))
    watchdog, _ = tasks(settings)
    assert watchdog.run(app.extensions["bazaar"].db) == 1
    assert refreshed(session, stale).status == OrderStatus.CANCELLED


def test_pending_orders_are_counted_with_the_age_of_the_oldest(session: Session) -> None:
    now = utcnow()
    assert pending_orders(session, now) == (0, 0.0)
    make_order(session, created_at=now - dt.timedelta(seconds=300))
    make_order(session, created_at=now - dt.timedelta(seconds=30))
    make_order(session, status=OrderStatus.CONFIRMED, created_at=now - dt.timedelta(hours=1))
    session.commit()
    count, age = pending_orders(session, now)
    assert count == 2 and age == pytest.approx(300)


def test_the_gauge_task_exports_the_pending_orders(
    app: APIFlask, settings: OrdersSettings, session: Session
) -> None:
    make_order(session, created_at=utcnow() - dt.timedelta(seconds=600))
    make_order(session, status=OrderStatus.CANCELLED)
    session.commit()
    _, gauges = tasks(settings)
    measured = gauges.run(app.extensions["bazaar"].db)
    assert isinstance(measured, tuple)
    count, age = measured
    assert count == 1 and age >= 600
    assert REGISTRY.get_sample_value("orders_pending") == 1
    assert REGISTRY.get_sample_value("orders_oldest_pending_age_seconds") == age
    payload, _ = render_latest()
    assert b"orders_pending 1.0" in payload


def test_a_checkout_goes_through_the_whole_saga(
    client: FlaskClient, customer: dict[str, str], shop: UpstreamsStandIn, session: Session
) -> None:
    client.put("/cart/items/1", json={"quantity": 2}, headers=customer)
    order_id = checkout(client, customer).get_json()["id"]
    [placed] = outbox_events(session, event_type="order.placed")
    # catalog answers order.placed, then payments answers order.payment_requested.
    deliver(session, reserved(order_id), handle_stock_reserved, times=1)
    [requested] = outbox_events(session, event_type="order.payment_requested")
    assert requested.payload["amount"] == placed.payload["total"]
    total = requested.payload["amount"]["amount"]
    deliver(session, authorized(order_id, total), handle_payment_authorized, times=1)
    body = client.get(f"/{order_id}", headers=customer).get_json()
    assert body["status"] == "CONFIRMED"
    assert [(h["status"], h["note"]) for h in body["history"]] == [
        ("PENDING", "order placed"),
        ("PENDING", "stock reserved"),
        ("CONFIRMED", "payment authorized"),
    ]
    assert body["allowed_transitions"] == ["CANCELLED"]
