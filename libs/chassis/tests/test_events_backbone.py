"""The event backbone end to end, on the embedded transport and on a real RabbitMQ."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from sqlalchemy.orm import Session

from chassis import tracing
from chassis.db import Database
from chassis.events import Event, add_event_tables, outbox_events, publish, was_handled
from chassis.events.broker import Topology, connect
from chassis.events.consumer import EventConsumer
from chassis.events.deadletters import list_dead_letters, replay_dead_letters
from chassis.events.relay import OutboxRelay
from chassis.events.tables import OUTBOX
from chassis.settings import ServiceSettings
from chassis.spanstore import SpanStore


class EventSettings(ServiceSettings):
    """Settings of a made-up service that publishes and consumes."""

    service_name: ClassVar[str] = "eventtest"


@pytest.fixture(params=["embedded", "rabbitmq"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> EventSettings:
    """Settings on each broker, with a database of their own."""
    broker_url = request.getfixturevalue("rabbitmq_url") if request.param == "rabbitmq" else None
    return EventSettings(
        env="test",
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'events.db'}",
        broker_url=broker_url,
    )


@pytest.fixture
def db(settings: EventSettings) -> Iterator[Database]:
    """A database with the outbox and inbox tables."""
    database = Database(settings.database_url)
    metadata = sa.MetaData()
    add_event_tables(metadata)
    metadata.create_all(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def service() -> str:
    """A queue name of its own per test, so runs on a shared broker never meet."""
    return "test-" + uuid.uuid4().hex[:10]


@pytest.fixture
def cleanup(settings: EventSettings, service: str) -> Iterator[None]:
    """Delete the test's queues from the broker afterwards."""
    yield
    with connect(settings) as connection:
        channel = connection.default_channel
        topology = Topology()
        for queue in (
            topology.service_queue(service, ["stock.changed"]),
            topology.dead_queue(service),
        ):
            queue.bind(channel).delete()


class Recorder:
    """A handler that records what it saw and fails while `broken` is set."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.broken = False
        self.lock = threading.Lock()

    def __call__(self, session: Session, event: Event) -> None:
        if self.broken or event.payload.get("stock") == 13:
            raise RuntimeError("handler cannot cope")
        with self.lock:
            self.seen.append(event.id)


def run_consumer(
    settings: EventSettings, db: Database, service: str, recorder: Recorder
) -> Callable[[], None]:
    """Start a consumer thread; returns a function that stops it."""
    consumer = EventConsumer(
        connect(settings),
        service=service,
        db=db,
        handlers={"stock.changed": recorder},
        retry_delays=(0.01, 0.01),
    )
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run_until, args=(stop,), daemon=True)
    thread.start()
    # Wait until the queue and its binding exist, or early messages would be dropped.
    assert consumer.ready.wait(10), "the consumer did not start"

    def stopper() -> None:
        stop.set()
        thread.join(5)

    return stopper


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll until `condition` holds or fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def wait_for_dead_letters(settings: EventSettings, service: str, count: int) -> None:
    """Poll until the service's dead letter queue holds `count` messages."""

    def parked() -> bool:
        with connect(settings) as connection:
            return len(list_dead_letters(connection, service)) == count

    wait_for(parked)


def publish_committed(db: Database, count: int, **payload: Any) -> list[Event]:
    """Publish `count` events in one committed transaction."""
    with db.session() as session:
        return [
            publish(session, "stock.changed", {"product_id": n + 1, "stock": 5, **payload})
            for n in range(count)
        ]


def consumed(service: str, outcome: str) -> float:
    """How many deliveries of stock.changed the service's consumer finished with `outcome`."""
    labels = {"service": service, "type": "stock.changed", "outcome": outcome}
    return REGISTRY.get_sample_value("events_consumed_total", labels) or 0.0


def relay_all(settings: EventSettings, db: Database) -> int:
    """Relay one batch with a connection of its own."""
    relay = OutboxRelay(db, connect(settings))
    try:
        return relay.relay_once()
    finally:
        relay.close()


def test_publish_is_part_of_the_callers_transaction(db: Database) -> None:
    with pytest.raises(RuntimeError), db.session() as session:
        publish(session, "stock.changed", {"product_id": 1, "stock": 5})
        raise RuntimeError("the business change failed")
    with db.session() as session:
        assert outbox_events(session) == []
    published = publish_committed(db, 1)
    with db.session() as session:
        assert outbox_events(session, pending_only=True) == published


@pytest.mark.usefixtures("cleanup")
def test_relayed_events_reach_the_consumer_once_each(
    settings: EventSettings, db: Database, service: str
) -> None:
    recorder = Recorder()
    stop = run_consumer(settings, db, service, recorder)
    try:
        events = publish_committed(db, 20)
        relay = OutboxRelay(db, connect(settings))
        assert relay.relay_once() == 20
        assert relay.relay_once() == 0
        relay.close()
        wait_for(lambda: len(recorder.seen) >= 20)
        time.sleep(0.2)
        assert sorted(recorder.seen) == sorted(e.id for e in events)
        with db.session() as session:
            assert outbox_events(session, pending_only=True) == []
            assert all(was_handled(session, e.id) for e in events)
        assert consumed(service, "handled") == 20
    finally:
        stop()


@pytest.mark.usefixtures("cleanup")
def test_a_redelivered_event_has_one_effect(
    settings: EventSettings, db: Database, service: str
) -> None:
    recorder = Recorder()
    stop = run_consumer(settings, db, service, recorder)
    try:
        (event,) = publish_committed(db, 1)
        relay = OutboxRelay(db, connect(settings))
        relay.relay_once()
        # The relay died after the broker confirmed but before the row was marked.
        with db.session() as session:
            session.execute(sa.update(OUTBOX).values(published_at=None))
        relay.relay_once()
        relay.close()
        wait_for(lambda: len(recorder.seen) >= 1)
        wait_for(lambda: consumed(service, "duplicate") == 1)
        assert recorder.seen == [event.id]
        assert consumed(service, "handled") == 1
    finally:
        stop()


@pytest.mark.usefixtures("cleanup")
def test_a_poison_message_is_dead_lettered_and_replays_after_the_fix(
    settings: EventSettings, db: Database, service: str
) -> None:
    recorder = Recorder()
    recorder.broken = True
    stop = run_consumer(settings, db, service, recorder)
    try:
        (poison,) = publish_committed(db, 1)
        relay_all(settings, db)

        wait_for_dead_letters(settings, service, 1)
        with connect(settings) as connection:
            (letter,) = list_dead_letters(connection, service)
        assert letter.event_id == poison.id
        assert letter.type == "stock.changed"
        assert "handler cannot cope" in letter.error
        assert letter.attempts == 3
        assert recorder.seen == []
        assert consumed(service, "dead_lettered") == 1
        failures = REGISTRY.get_sample_value(
            "event_handler_failures_total", {"service": service, "type": "stock.changed"}
        )
        assert failures == 3
        with db.session() as session:
            assert not was_handled(session, poison.id)

        recorder.broken = False  # the fix is deployed
        with connect(settings) as connection:
            assert [r.event_id for r in replay_dead_letters(connection, service)] == [poison.id]
        wait_for(lambda: recorder.seen == [poison.id])
        with connect(settings) as connection:
            assert list_dead_letters(connection, service) == []
    finally:
        stop()


@pytest.mark.usefixtures("cleanup")
def test_a_dead_lettered_events_span_continues_the_writers_trace_and_says_why(
    settings: EventSettings, db: Database, service: str
) -> None:
    assert tracing.configure_tracing(settings, "eventtest")
    recorder = Recorder()
    recorder.broken = True
    stop = run_consumer(settings, db, service, recorder)
    try:
        with tracing.span("place order") as root:
            (poison,) = publish_committed(db, 1)
        relay_all(settings, db)

        wait_for_dead_letters(settings, service, 1)
    finally:
        stop()
        tracing.force_flush()
        tracing.shutdown()

    trace_id = format(root.get_span_context().trace_id, "032x")
    store = SpanStore(settings.data_dir / "traces.db", max_bytes=2**24, max_age_seconds=3600)
    try:
        spans = store.find(trace_id)
    finally:
        store.close()
    (handled,) = [s for s in spans if s.name == "handle stock.changed"]
    assert handled.trace_id == trace_id  # the envelope carried the writer's trace
    assert handled.attributes[tracing.EVENT_ID] == poison.id
    assert handled.attributes["bazaar.dead_lettered"] is True
    assert handled.error
    assert handled.status_message is not None
    assert "dead-lettered" in handled.status_message
    assert "handler cannot cope" in handled.status_message
    ids = {s.span_id for s in spans}
    assert all(s.parent_id is None or s.parent_id in ids for s in spans)


@pytest.mark.usefixtures("cleanup")
def test_a_message_that_is_not_an_event_goes_straight_to_the_dead_letters(
    settings: EventSettings, db: Database, service: str
) -> None:
    from kombu.messaging import Producer

    recorder = Recorder()
    stop = run_consumer(settings, db, service, recorder)
    try:
        with connect(settings) as connection:
            Producer(connection.default_channel).publish(
                {"hello": "world"}, exchange="", routing_key=Topology().queue_name(service)
            )

        wait_for_dead_letters(settings, service, 1)
        with connect(settings) as connection:
            (letter,) = list_dead_letters(connection, service)
        assert "not an event envelope" in letter.error
        assert letter.attempts == 1
    finally:
        stop()


def test_the_relay_keeps_rows_while_the_broker_is_unreachable(
    settings: EventSettings, db: Database
) -> None:
    if settings.broker_url is None:
        pytest.skip("the embedded transport cannot be unreachable")
    down = settings.model_copy(update={"broker_url": "amqp://guest:guest@127.0.0.1:1//"})
    publish_committed(db, 3)
    relay = OutboxRelay(db, connect(down))
    with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises
        relay.relay_once()
    relay.close()
    with db.session() as session:
        assert len(outbox_events(session, pending_only=True)) == 3
    # Once the broker is reachable, the same rows go out.
    assert relay_all(settings, db) == 3


def test_two_consumers_on_one_embedded_queue_take_each_message_once(
    settings: EventSettings, db: Database, service: str
) -> None:
    if settings.broker_url is not None:
        pytest.skip("RabbitMQ's competing consumers are RabbitMQ's to guarantee")
    first, second = Recorder(), Recorder()
    stops = [run_consumer(settings, db, service, r) for r in (first, second)]
    try:
        events = publish_committed(db, 60)
        relay_all(settings, db)
        wait_for(lambda: len(first.seen) + len(second.seen) >= 60)
        time.sleep(0.3)
        assert sorted(first.seen + second.seen) == sorted(e.id for e in events)
    finally:
        for stop in stops:
            stop()


def test_an_embedded_message_taken_by_a_process_that_died_is_delivered_again(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    settings = EventSettings(env="test", data_dir=tmp_path)
    queue = Topology().service_queue("crashy", ["stock.changed"])
    with connect(settings) as connection:
        channel = connection.default_channel
        Topology().declare(channel, queue)
        from kombu.messaging import Producer

        Producer(channel, exchange=Topology().events_exchange).publish(
            {"n": 1}, routing_key="stock.changed"
        )
    # Another process takes the message and dies before acking it.
    taker = (
        "import os\n"
        "from pathlib import Path\n"
        "from chassis.settings import ServiceSettings\n"
        "from chassis.events.broker import Topology, connect\n"
        "class S(ServiceSettings):\n"
        "    service_name = 'eventtest'\n"
        f"settings = S(env='test', data_dir=Path({str(tmp_path)!r}))\n"
        "connection = connect(settings)\n"
        "queue = Topology().service_queue('crashy', ['stock.changed'])\n"
        "queue = queue.bind(connection.default_channel)\n"
        "message = queue.get(no_ack=False)\n"
        "print(message.payload)\n"
        "os._exit(0)\n"
    )
    command = [sys.executable, "-c", taker]
    taken = subprocess.run(command, capture_output=True, text=True, check=True)  # noqa: S603
    assert "'n': 1" in taken.stdout
    with connect(settings) as connection:
        bound = queue.bind(connection.default_channel)
        again = bound.get(no_ack=False)
        assert again is not None
        assert again.payload == {"n": 1}
        again.ack()
        assert bound.get(no_ack=False) is None
    leftovers = [p.name for p in (tmp_path / "broker" / "messages").iterdir()]
    assert leftovers == []


def test_the_workers_pool_holds_a_connection_per_handler_thread_and_two_more() -> None:
    from sqlalchemy.pool import QueuePool

    from chassis.events.spec import EventsSpec
    from chassis.events.worker import Worker

    settings = EventSettings(
        env="test",
        database_url="postgresql+psycopg://nobody@127.0.0.1:1/none",
        events_concurrency=3,
    )
    worker = Worker(settings, EventsSpec())
    try:
        pool = worker.db.engine.pool
        assert isinstance(pool, QueuePool)
        assert pool.size() == 5
    finally:
        worker.db.dispose()


def _bind_in_rounds(data_dir: str, process: int, rounds: int, barrier: Any) -> None:
    """In a child process: each round, bind a queue of its own to a new exchange, at the
    same moment as the other processes (the first binding creates the exchange's file)."""
    settings = EventSettings(env="test", data_dir=Path(data_dir))
    with connect(settings) as connection:
        channel = connection.default_channel
        for round_ in range(rounds):
            barrier.wait(10)
            channel._queue_bind(f"race{round_}", "stock.changed", None, f"q{process}")
            # Reading the table while others rewrite it must never see it half written.
            assert channel.get_table(f"race{round_}")


def test_processes_binding_at_once_on_the_embedded_broker_lose_no_binding(
    tmp_path: Path,
) -> None:
    import multiprocessing

    processes, rounds = 4, 40
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(processes)
    children = [
        context.Process(target=_bind_in_rounds, args=(str(tmp_path), p, rounds, barrier))
        for p in range(processes)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(60)
    assert [child.exitcode for child in children] == [0] * processes
    with connect(EventSettings(env="test", data_dir=tmp_path)) as connection:
        channel = connection.default_channel
        for round_ in range(rounds):
            bound = sorted(binding.queue for binding in channel.get_table(f"race{round_}"))
            assert bound == [f"q{p}" for p in range(processes)], round_


def test_a_worker_thread_that_dies_stops_the_worker_so_it_is_restarted(tmp_path: Path) -> None:
    from chassis.events.spec import EventsSpec
    from chassis.events.worker import Worker

    settings = EventSettings(
        env="test", data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'w.db'}"
    )
    worker = Worker(settings, EventsSpec())

    def consume() -> None:
        raise ValueError("the exchange table could not be read")

    try:
        worker._thread("consumer", consume)
        assert worker.stop.wait(5)
        assert worker.failed == "consumer"
    finally:
        worker.shutdown()
