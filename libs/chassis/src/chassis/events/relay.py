"""The outbox relay: committed outbox rows go to the broker, then are marked published.

It publishes with confirms, so a row is marked only once the broker has taken the
message; a crash in between sends it again, and consumers drop the duplicate.

It does not wait for its next poll when it knows there is work: `publish()` on PostgreSQL
sends a NOTIFY that the relay LISTENs for (delivered only when the transaction commits),
and the events worker wakes it after each handled event. Polling stays as the fallback
for anything a wake-up misses (a listener reconnecting, SQLite, a batch cut at its limit).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import sqlalchemy as sa
from kombu.connection import Connection
from kombu.messaging import Producer
from opentelemetry.trace import SpanKind

from chassis import faults, tracing
from chassis.db import Database
from chassis.events.broker import Topology
from chassis.events.outbox import NOTIFY_CHANNEL, mark_published
from chassis.events.tables import OUTBOX
from chassis.logging import get_logger
from chassis.metrics import EVENTS_PUBLISHED

log = get_logger("chassis.events.relay")


class OutboxRelay:
    """Moves one service's outbox to the broker."""

    def __init__(
        self,
        db: Database,
        connection: Connection,
        *,
        batch_size: int = 200,
        idle_interval: float = 0.05,
        listening_interval: float = 0.5,
        max_backoff: float = 5.0,
        topology: Topology | None = None,
        service: str = "service",
    ) -> None:
        self.topology = topology or Topology()
        self.service = service
        self.db = db
        self.connection = connection
        self.batch_size = batch_size
        self.idle_interval = idle_interval
        self.listening_interval = listening_interval
        self.max_backoff = max_backoff
        self._wake = threading.Event()
        self._listening = threading.Event()  # set while a LISTEN connection is up
        self._producer: Producer | None = None
        self._failed_after: list[int] = []
        # Called at the top of every round: the worker's liveness heartbeat.
        self.on_round: Callable[[], None] | None = None

    def _ensure_producer(self) -> Producer:
        if self._producer is None:
            self.connection.ensure_connection(max_retries=1)
            channel = self.connection.default_channel
            self.topology.declare(channel)
            self._producer = Producer(channel, exchange=self.topology.events_exchange)
        return self._producer

    @property
    def listening(self) -> bool:
        """Whether a LISTEN connection is up, so a commit wakes the relay at once."""
        return self._listening.is_set()

    def wake(self) -> None:
        """Look at the outbox now instead of at the next poll (thread-safe)."""
        self._wake.set()

    def close(self) -> None:
        """Release the broker connection."""
        self._producer = None
        with contextlib.suppress(Exception):
            self.connection.release()

    def _reset(self) -> None:
        self._producer = None
        with contextlib.suppress(Exception):  # the connection is being thrown away
            self.connection.release()
        self.connection = self.connection.clone()

    def _pending(self) -> Any:
        return (
            sa.select(OUTBOX.c.position, OUTBOX.c.event_id, OUTBOX.c.type, OUTBOX.c.body)
            .where(OUTBOX.c.published_at.is_(None))
            .order_by(OUTBOX.c.position)
            .limit(self.batch_size)
        )

    def _publish(self, rows: Any) -> list[int]:
        producer = self._ensure_producer()
        sent: list[int] = []
        try:
            for row in rows:
                with _publish_span(row) as headers:
                    producer.publish(
                        row.body,
                        routing_key=row.type,
                        content_type="application/json",
                        content_encoding="utf-8",
                        delivery_mode=2,
                        message_id=row.event_id,
                        headers=headers,
                        retry=False,
                    )
                sent.append(row.position)
                EVENTS_PUBLISHED.labels(self.service, row.type).inc()
        except Exception as exc:
            # What the broker confirmed is still marked; the rest is sent next time.
            exc.add_note(f"{len(sent)} of {len(rows)} events were sent")
            self._failed_after = sent
            raise
        return sent

    def relay_once(self) -> int:
        """Publish up to one batch of pending rows; how many were published."""
        if self.db.dialect == "postgresql":
            # Rows stay locked while they are sent: two relays of one service share the
            # work instead of sending rows twice.
            with self.db.session() as session:
                rows = session.execute(self._pending().with_for_update(skip_locked=True)).all()
                return self._send_and_mark(session, rows)
        # SQLite allows one writer; holding a transaction across the broker round trips
        # would stall the service's writes, so read, send, then mark in a new transaction.
        with self.db.session_factory() as reader:  # a plain read: no write lock taken
            rows = reader.execute(self._pending()).all()
        if not rows:
            return 0
        with self.db.session() as session:
            return self._send_and_mark(session, rows)

    def _send_and_mark(self, session: Any, rows: Any) -> int:
        if not rows:
            return 0
        self._failed_after = []
        try:
            sent = self._publish(rows)
        except Exception:
            if self._failed_after:
                mark_published(session, self._failed_after)
                session.commit()
            raise
        mark_published(session, sent)
        return len(sent)

    def run(self, stop: threading.Event) -> None:
        """Relay until `stop` is set; back off while the broker is unreachable."""
        if self.db.dialect == "postgresql":
            listener = threading.Thread(
                target=self.listen, args=(stop,), name="relay-listener", daemon=True
            )
            listener.start()
        backoff = 0.0
        while not stop.is_set():
            if self.on_round is not None:
                self.on_round()
            faults.wait_while("events_paused", stop)
            # Cleared before reading the outbox: a wake-up during the read is not lost.
            self._wake.clear()
            try:
                count = self.relay_once()
                if backoff:
                    log.info("relay reconnected")
                backoff = 0.0
            except Exception as exc:
                backoff = min(self.max_backoff, backoff * 2 or 0.25)
                log.warning("relay failed; retrying", error=repr(exc), retry_in=backoff)
                self._reset()
                stop.wait(backoff)
                continue
            if count < self.batch_size:
                listening = self._listening.is_set()
                self._wake.wait(self.listening_interval if listening else self.idle_interval)

    def listen(self, stop: threading.Event) -> None:
        """Wake the relay on each NOTIFY from `publish()` (PostgreSQL); reconnect on errors."""
        backoff = 0.0
        while not stop.is_set():
            try:
                self._listen_once(stop)
                return
            except Exception as exc:
                self._listening.clear()
                backoff = min(self.max_backoff, backoff * 2 or 0.25)
                log.warning("outbox listener failed; polling", error=repr(exc), retry_in=backoff)
                stop.wait(backoff)

    def _listen_once(self, stop: threading.Event) -> None:
        # A connection of its own, taken out of the pool: it sits in LISTEN for good.
        pooled = self.db.engine.raw_connection()
        # Taken before detaching: a detached proxy forgets its record, and with it the driver
        # connection (it would read None, and the listener would never start).
        connection: Any = pooled.driver_connection
        pooled.detach()
        try:
            connection.autocommit = True
            connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
            self._listening.set()
            self._wake.set()  # rows committed while no one listened
            while not stop.is_set():
                started = time.monotonic()
                for _ in connection.notifies(timeout=1.0, stop_after=1):
                    self._wake.set()
                if time.monotonic() - started < 1.0:
                    continue
                connection.execute("SELECT 1")  # a dead server shows up here, not as silence
        finally:
            self._listening.clear()
            with contextlib.suppress(Exception):
                connection.close()


@contextmanager
def _publish_span(row: Any) -> Iterator[dict[str, str]]:
    """A producer span in the event's trace while it is sent; its context rides in headers."""
    if not tracing.enabled():
        yield {}
        return
    carrier = orjson.loads(row.body).get("trace")
    parent = tracing.extract(carrier) if carrier else None
    if parent is None:
        yield {}
        return
    with tracing.span(
        f"publish {row.type}",
        kind=SpanKind.PRODUCER,
        parent=parent,
        attributes={
            tracing.EVENT_ID: row.event_id,
            tracing.EVENT_TYPE: row.type,
            "messaging.operation.type": "send",
        },
    ):
        yield tracing.current_carrier()
