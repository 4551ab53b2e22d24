"""Exactly-once effects: a handler runs in the same transaction that records its event id."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chassis.db import utcnow
from chassis.events.contracts import validate_payload
from chassis.events.envelope import Event
from chassis.events.outbox import current_correlation
from chassis.events.tables import INBOX

Handler = Callable[[Session, Event], None]


def handle_once(session: Session, event: Event, handler: Handler) -> bool:
    """Record `event` in the inbox and run `handler`; False (and no effect) if seen before.

    The caller commits. With two consumers racing on the same event, the second insert
    waits for the first transaction and then fails on the primary key: one effect only.
    """
    validate_payload(event.type, event.version, event.payload)
    try:
        with session.begin_nested():
            session.execute(
                sa.insert(INBOX).values(event_id=event.id, type=event.type, handled_at=utcnow())
            )
    except IntegrityError:
        return False
    token = current_correlation.set(event.correlation_id)
    try:
        handler(session, event)
    finally:
        current_correlation.reset(token)
    return True


def was_handled(session: Session, event_id: str) -> bool:
    """True when the inbox holds this event id."""
    return (
        session.scalar(sa.select(INBOX.c.event_id).where(INBOX.c.event_id == event_id)) is not None
    )
