"""The order status stream (Server-Sent Events): the order now, then every change.

Each poll opens a fresh session, so commits by the saga's worker are seen at once; only a
changed `version` loads and renders the whole order. A heartbeat comment keeps proxies
(the gateway reads upstreams with a 10 s timeout) from closing a quiet stream, and the
stream ends on a final status or after `max_seconds`: EventSource reconnects on its own,
so no request holds a server thread for long.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from chassis.db import Database
from chassis.logging import get_logger
from orders.models import Order, OrderStatus
from orders.order.schemas import order_read
from orders.order.service import Actor

log = get_logger("orders.stream")

RETRY_MILLISECONDS = 2000
HEARTBEAT = ": heartbeat\n\n"


@dataclass(frozen=True)
class StreamTiming:
    """How often to poll and to send a heartbeat, and when to end the stream."""

    poll_seconds: float = 0.25
    heartbeat_seconds: float = 5.0
    max_seconds: float = 55.0


def status_event(data: str, version: int, *, first: bool) -> str:
    """One `status` event; the first also tells the browser how soon to reconnect."""
    retry = f"retry: {RETRY_MILLISECONDS}\n" if first else ""
    return f"{retry}id: {version}\nevent: status\ndata: {data}\n\n"


def status_events(
    *,
    db: Database,
    order_id: str,
    actor: Actor,
    timing: StreamTiming,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[str]:
    """Yield the stream's text chunks until the order is final or time is up."""
    started = last_write = clock()
    seen: int | None = None
    while True:
        try:
            change = _poll(db, order_id, seen, actor)
        except SQLAlchemyError:
            # The browser reconnects after `retry`: better than a stream that hangs.
            log.warning("status stream ended by a database error", order_id=order_id)
            return
        if change is None:
            return
        if change.body is not None:
            yield status_event(change.body, change.version, first=seen is None)
            seen, last_write = change.version, clock()
            if change.final:
                return
        elif clock() - last_write >= timing.heartbeat_seconds:
            yield HEARTBEAT
            last_write = clock()
        if clock() - started >= timing.max_seconds:
            return
        sleep(timing.poll_seconds)


@dataclass(frozen=True)
class _Change:
    version: int
    body: str | None  # None: unchanged since the last event
    final: bool


def _poll(db: Database, order_id: str, seen: int | None, actor: Actor) -> _Change | None:
    """The order's state if it changed since version `seen`; None when it is gone."""
    with db.session() as session:
        version = session.scalar(select(Order.version).where(Order.id == order_id))
        if version is None:
            return None
        if version == seen:
            return _Change(version, None, final=False)
        order = session.get(Order, order_id)
        if order is None:
            return None
        body = order_read(order, actor=actor).model_dump_json()
        return _Change(order.version, body, final=OrderStatus(order.status).is_final)
