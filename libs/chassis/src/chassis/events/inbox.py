"""Exactly-once effects: a handler runs in the same transaction that records its event id."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
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
    if not _record(session, event):
        return False
    token = current_correlation.set(event.correlation_id)
    try:
        handler(session, event)
    finally:
        current_correlation.reset(token)
    return True


def _record(session: Session, event: Event) -> bool:
    """Insert the event id into the inbox; False when it is there already."""
    values = {"event_id": event.id, "type": event.type, "handled_at": utcnow()}
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        # One statement instead of savepoint, insert, release: a third of the round trips.
        # A twin still in flight makes it wait for that commit, then insert nothing.
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(INBOX).values(**values).on_conflict_do_nothing(index_elements=["event_id"])
        return session.execute(stmt.returning(INBOX.c.event_id)).first() is not None
    try:
        with session.begin_nested():
            session.execute(sa.insert(INBOX).values(**values))
    except IntegrityError:
        return False
    return True


def was_handled(session: Session, event_id: str) -> bool:
    """True when the inbox holds this event id."""
    return (
        session.scalar(sa.select(INBOX.c.event_id).where(INBOX.c.event_id == event_id)) is not None
    )
