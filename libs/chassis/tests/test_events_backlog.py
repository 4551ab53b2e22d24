"""The backlog gauges: unpublished outbox rows, their age, and the dead letters waiting."""

from __future__ import annotations

import datetime as dt
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
import sqlalchemy as sa
from kombu.messaging import Producer
from prometheus_client import REGISTRY

from chassis.db import Database, utcnow
from chassis.events import add_event_tables, publish
from chassis.events.backlog import BacklogGauges
from chassis.events.broker import Topology, connect, topology_of
from chassis.events.relay import OutboxRelay
from chassis.events.spec import EventsSpec
from chassis.events.tables import OUTBOX
from chassis.events.worker import Worker, serve_health
from chassis.metrics import render_latest
from chassis.registry import free_port
from chassis.settings import ServiceSettings


class BacklogSettings(ServiceSettings):
    """Settings of a made-up service with an outbox."""

    service_name: ClassVar[str] = "backlogtest"


@pytest.fixture(params=["embedded", "rabbitmq"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> BacklogSettings:
    """Settings on each broker, with a database of their own."""
    broker_url = request.getfixturevalue("rabbitmq_url") if request.param == "rabbitmq" else None
    return BacklogSettings(
        env="test",
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'backlog.db'}",
        broker_url=broker_url,
    )


@pytest.fixture
def db(settings: BacklogSettings) -> Iterator[Database]:
    """A database with the outbox and inbox tables."""
    database = Database(settings.database_url)
    metadata = sa.MetaData()
    add_event_tables(metadata)
    metadata.create_all(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def service(settings: BacklogSettings) -> Iterator[str]:
    """A service name of its own per test; its dead letter queue is deleted afterwards."""
    name = "backlog-" + uuid.uuid4().hex[:10]
    yield name
    with connect(settings) as connection:
        Topology().dead_queue(name).bind(connection.default_channel).delete()


def gauge(name: str, service: str) -> float | None:
    """The gauge's current value for the service (None when never set)."""
    return REGISTRY.get_sample_value(name, {"service": service})


def park(settings: BacklogSettings, service: str, count: int) -> None:
    """Put `count` messages on the service's dead letter queue, as the consumer does."""
    topology = topology_of(settings)
    with connect(settings) as connection:
        channel = connection.default_channel
        topology.declare(channel, topology.dead_queue(service))
        producer = Producer(channel, exchange=topology.dead_exchange)
        for n in range(count):
            producer.publish(
                {"n": n},
                routing_key=topology.queue_name(service),
                headers={"x-error": "RuntimeError('broken')"},
                retry=False,
            )


def test_gauges_count_the_outbox_and_the_dead_letters(
    settings: BacklogSettings, db: Database, service: str
) -> None:
    gauges = BacklogGauges(db, lambda: connect(settings), service=service, topology=Topology())
    try:
        gauges.refresh()
        assert gauge("events_outbox_unpublished", service) == 0
        assert gauge("events_outbox_oldest_unpublished_age_seconds", service) == 0
        assert gauge("events_dead_letters", service) == 0

        with db.session() as session:
            for n in range(3):
                publish(session, "stock.changed", {"product_id": n + 1, "stock": 5})
        oldest = utcnow() - dt.timedelta(seconds=90)
        with db.session() as session:
            session.execute(
                sa.update(OUTBOX).where(OUTBOX.c.position == 1).values(created_at=oldest)
            )
        park(settings, service, 2)
        gauges.refresh(now=oldest + dt.timedelta(seconds=90))

        assert gauge("events_outbox_unpublished", service) == 3
        assert gauge("events_outbox_oldest_unpublished_age_seconds", service) == pytest.approx(90)
        assert gauge("events_dead_letters", service) == 2
        payload, _ = render_latest()
        assert f'events_dead_letters{{service="{service}"}} 2.0'.encode() in payload

        # Once relayed, nothing waits: the age goes back to 0, not to the last row's.
        relay = OutboxRelay(db, connect(settings))
        try:
            assert relay.relay_once() == 3
        finally:
            relay.close()
        gauges.refresh()
        assert gauge("events_outbox_unpublished", service) == 0
        assert gauge("events_outbox_oldest_unpublished_age_seconds", service) == 0
        assert gauge("events_dead_letters", service) == 2
    finally:
        gauges.close()


def test_a_broken_database_leaves_the_dead_letter_count_current(
    settings: BacklogSettings, tmp_path: Path, service: str
) -> None:
    # No outbox table: the outbox query fails, the broker's count still arrives.
    empty = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    park(settings, service, 1)
    gauges = BacklogGauges(empty, lambda: connect(settings), service=service, topology=Topology())
    try:
        gauges.refresh()
        assert gauge("events_outbox_unpublished", service) is None
        assert gauge("events_dead_letters", service) == 1
    finally:
        gauges.close()
        empty.dispose()


def test_run_measures_at_once_and_stops_when_told(
    settings: BacklogSettings, db: Database, service: str
) -> None:
    gauges = BacklogGauges(db, lambda: connect(settings), service=service, topology=Topology())
    stop = threading.Event()
    thread = threading.Thread(target=gauges.run, args=(stop, 60.0), daemon=True)
    thread.start()
    try:
        deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=10)
        while gauge("events_dead_letters", service) is None:
            assert dt.datetime.now(dt.UTC) < deadline, "no first measurement"
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()


def test_a_running_worker_serves_its_backlog_on_its_metrics_port(tmp_path: Path) -> None:
    settings = BacklogSettings(
        env="test",
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'worker.db'}",
        broker_namespace="t" + uuid.uuid4().hex[:10],
    )
    worker = Worker(settings, EventsSpec())
    metadata = sa.MetaData()
    add_event_tables(metadata)
    metadata.create_all(worker.db.engine)
    with worker.db.session() as session:
        publish(session, "stock.changed", {"product_id": 1, "stock": 5})
    park(settings, settings.service_name, 1)
    port = free_port()
    server = serve_health(worker, port, host="127.0.0.1")
    try:
        worker.start()
        url = f"http://127.0.0.1:{port}/metrics"
        expected = b'events_dead_letters{service="backlogtest"} 1.0'
        deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=10)
        while expected not in (page := urllib.request.urlopen(url, timeout=2).read()):
            assert dt.datetime.now(dt.UTC) < deadline, page.decode()[-2000:]
            threading.Event().wait(0.05)
        assert b'events_outbox_unpublished{service="backlogtest"}' in page
    finally:
        worker.shutdown()
        server.shutdown()
        server.server_close()
