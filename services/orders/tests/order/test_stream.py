"""The status stream: the order now, every change, heartbeats, and its end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from apiflask import APIFlask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from chassis.events import Event, handle_once
from orders.models import OrderStatus
from orders.order.service import Actor
from orders.order.stream import HEARTBEAT, StreamTiming, status_events
from orders.saga import handle_payment_authorized, handle_payment_declined

from ..conftest import make_order


def status_of(chunk: str | bytes) -> dict[str, Any]:
    """The order in one `status` event, checking the event's framing."""
    text = chunk.decode() if isinstance(chunk, bytes) else chunk
    assert text.endswith("\n\n")
    fields = dict(line.split(": ", 1) for line in text.strip().splitlines())
    assert fields["event"] == "status"
    order: dict[str, Any] = json.loads(fields["data"])
    assert fields["id"].isdigit()
    return order


def authorized(order_id: str, amount: int = 3000) -> Event:
    """payments' answer for an order."""
    return Event.new(
        "payment.authorized",
        {
            "order_id": order_id,
            "payment_id": "pay_1",
            "amount": {"amount": amount, "currency": "EUR"},
        },
    )


def test_the_stream_sends_the_order_then_each_change_and_ends_when_final(
    client: FlaskClient, customer: dict[str, str], session: Session
) -> None:
    order = make_order(session)
    response = client.get(f"/{order.id}/events", headers=customer, buffered=False)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    chunks: Iterator[bytes] = iter(response.response)

    first = next(chunks)
    assert first.startswith(b"retry: 2000\n")
    assert status_of(first)["status"] == "PENDING"

    handle_once(session, authorized(order.id), handle_payment_authorized)
    session.commit()
    second = next(chunks)
    assert b"retry" not in second
    assert status_of(second)["status"] == "CONFIRMED"

    client.post(f"/{order.id}/cancel", headers=customer)
    third = status_of(next(chunks))
    assert third["status"] == "CANCELLED"
    assert third["cancel_reason"] == "cancelled by customer"
    assert list(chunks) == []  # CANCELLED is final: the stream ends
    response.close()


def test_the_stream_of_a_finished_order_ends_after_one_event(
    client: FlaskClient, admin: dict[str, str], session: Session
) -> None:
    order = make_order(session, "user-b", status=OrderStatus.DELIVERED)
    response = client.get(f"/{order.id}/events", headers=admin, buffered=False)
    [only] = list(response.response)
    assert status_of(only)["status"] == "DELIVERED"
    response.close()


class FakeTime:
    """A clock the stream's sleeps move forward."""

    def __init__(self) -> None:
        self.now = 1000.0

    def clock(self) -> float:
        """Now."""
        return self.now

    def sleep(self, seconds: float) -> None:
        """Let time pass, instantly."""
        self.now += seconds


def test_a_quiet_stream_sends_heartbeats_and_ends_after_its_time(
    app: APIFlask, session: Session
) -> None:
    order = make_order(session)
    time = FakeTime()
    chunks = list(
        status_events(
            db=app.extensions["bazaar"].db,
            order_id=order.id,
            actor=Actor.CUSTOMER,
            timing=StreamTiming(poll_seconds=0.25, heartbeat_seconds=5.0, max_seconds=55.0),
            clock=time.clock,
            sleep=time.sleep,
        )
    )
    assert status_of(chunks[0])["status"] == "PENDING"
    assert chunks[1:] == [HEARTBEAT] * 11  # one every 5 s until 55 s
    assert 55.0 <= time.now - 1000.0 < 55.5


def test_a_change_is_sent_with_the_callers_allowed_transitions(
    app: APIFlask, session: Session
) -> None:
    order = make_order(session)
    time = FakeTime()
    stream = status_events(
        db=app.extensions["bazaar"].db,
        order_id=order.id,
        actor=Actor.ADMIN,
        timing=StreamTiming(),
        clock=time.clock,
        sleep=time.sleep,
    )
    assert status_of(next(stream))["allowed_transitions"] == ["CANCELLED"]
    declined = Event.new(
        "payment.declined",
        {"order_id": order.id, "payment_id": None, "code": "card_declined", "message": "No."},
    )
    handle_once(session, declined, handle_payment_declined)
    session.commit()
    last = status_of(next(stream))
    assert (last["status"], last["allowed_transitions"]) == ("CANCELLED", [])
    assert list(stream) == []
