"""`publish()`: an event becomes an outbox row in the caller's transaction."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from chassis import tracing
from chassis.db import utcnow
from chassis.events.contracts import validate_payload
from chassis.events.envelope import Event
from chassis.events.tables import OUTBOX
from chassis.requestid import current_request_id

# The channel `publish()` notifies on PostgreSQL; the relay LISTENs on it. NOTIFY is held
# back until the transaction commits, and repeats within one transaction are merged.
NOTIFY_CHANNEL = "bazaar_outbox"
_NOTIFIED = "chassis.outbox.notified"

# Set while a consumer handles an event, so what the handler publishes carries its correlation.
current_correlation: ContextVar[str | None] = ContextVar("bazaar_correlation", default=None)


def publish(
    session: Session,
    event_type: str,
    payload: dict[str, Any],
    *,
    version: int = 1,
    correlation_id: str | None = None,
) -> Event:
    """Check the payload against its contract and add it to the outbox; the caller commits.

    Nothing reaches the broker until the transaction commits and the relay picks it up,
    so an event is never sent for a change that was rolled back, nor lost for one that
    was committed.
    """
    validate_payload(event_type, version, payload)
    event = Event.new(
        event_type,
        payload,
        version=version,
        correlation_id=correlation_id or current_correlation.get() or current_request_id(),
        # Written with the row, so the wait for the relay shows in the trace.
        trace=tracing.current_carrier(),
    )
    session.execute(
        sa.insert(OUTBOX).values(
            event_id=event.id,
            type=event.type,
            body=event.to_json(),
            created_at=event.occurred_at,
        )
    )
    _notify_relay(session)
    return event


def _notify_relay(session: Session) -> None:
    """Ask PostgreSQL to wake the relay when this transaction commits (once per transaction)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    transaction = session.get_transaction()
    if transaction is None or session.info.get(_NOTIFIED) is transaction:
        return
    session.execute(sa.text(f"NOTIFY {NOTIFY_CHANNEL}"))
    session.info[_NOTIFIED] = transaction


def outbox_events(
    session: Session, *, event_type: str | None = None, pending_only: bool = False
) -> list[Event]:
    """Events in the outbox, oldest first (for tests and the `bazaar events` commands)."""
    stmt = sa.select(OUTBOX.c.body).order_by(OUTBOX.c.position)
    if event_type:
        stmt = stmt.where(OUTBOX.c.type == event_type)
    if pending_only:
        stmt = stmt.where(OUTBOX.c.published_at.is_(None))
    return [Event.from_json(body) for body in session.scalars(stmt)]


def mark_published(session: Session, positions: list[int]) -> None:
    """Record that the relay handed these rows to the broker."""
    session.execute(
        sa.update(OUTBOX).where(OUTBOX.c.position.in_(positions)).values(published_at=utcnow())
    )
