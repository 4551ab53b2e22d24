"""The backlogs an operator alerts on: the outbox's unpublished rows and the dead letters.

The events worker measures them every `BACKLOG_INTERVAL` seconds into the gauges of
`chassis.metrics`, which its /metrics serves. Counting at a fixed pace, not on each scrape,
keeps a scrape from opening a database or broker connection of its own.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

import sqlalchemy as sa
from kombu.connection import Connection

from chassis.db import Database, utcnow
from chassis.events.broker import Topology
from chassis.events.tables import OUTBOX
from chassis.logging import get_logger
from chassis.metrics import DEAD_LETTERS, OUTBOX_OLDEST_AGE, OUTBOX_UNPUBLISHED

log = get_logger("chassis.events.backlog")

BACKLOG_INTERVAL = 15.0


def outbox_backlog(db: Database, now: dt.datetime | None = None) -> tuple[int, float]:
    """(rows not yet published, age in seconds of the oldest of them; 0 when none)."""
    query = sa.select(sa.func.count(), sa.func.min(OUTBOX.c.created_at)).where(
        OUTBOX.c.published_at.is_(None)
    )
    with db.engine.connect() as connection:
        count, oldest = connection.execute(query).one()
    if oldest is None:
        return int(count), 0.0
    return int(count), max(0.0, ((now or utcnow()) - oldest).total_seconds())


def dead_letter_depth(connection: Connection, service: str, topology: Topology) -> int:
    """How many messages wait on the service's dead letter queue (declared if missing)."""
    channel = connection.default_channel
    queue = topology.dead_queue(service).bind(channel)
    topology.declare(channel, queue)
    _, count, _ = channel.queue_declare(queue=queue.name, passive=True)
    return int(count)


class BacklogGauges:
    """Keeps one service's outbox and dead letter gauges current."""

    def __init__(
        self,
        db: Database,
        connect: Callable[[], Connection],
        *,
        service: str,
        topology: Topology,
    ) -> None:
        self.db = db
        self.service = service
        self.topology = topology
        self._connect = connect
        self._connection: Connection | None = None

    def refresh(self, now: dt.datetime | None = None) -> None:
        """Measure both backlogs; one failing leaves its gauge at the last value measured."""
        try:
            count, age = outbox_backlog(self.db, now)
        except Exception as exc:  # the database may be down; the next round tries again
            log.warning("outbox backlog not measured", error=repr(exc))
        else:
            OUTBOX_UNPUBLISHED.labels(self.service).set(count)
            OUTBOX_OLDEST_AGE.labels(self.service).set(age)
        try:
            if self._connection is None:
                self._connection = self._connect()
            depth = dead_letter_depth(self._connection, self.service, self.topology)
        except Exception as exc:  # a broker outage; reconnect on the next round
            log.warning("dead letters not counted", error=repr(exc))
            self.close()
        else:
            DEAD_LETTERS.labels(self.service).set(depth)

    def run(self, stop: threading.Event, interval: float = BACKLOG_INTERVAL) -> None:
        """Refresh now, then every `interval` seconds until `stop` is set."""
        while True:
            self.refresh()
            if stop.wait(interval):
                break
        self.close()

    def close(self) -> None:
        """Drop the broker connection (a new one is made on the next refresh)."""
        if self._connection is not None:
            try:
                self._connection.release()
            except Exception as exc:  # a connection already broken has nothing to release
                log.debug("broker connection not released", error=repr(exc))
            self._connection = None
