"""An events worker's probes: /livez notices a stuck loop or handler, /readyz a consumer away."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from chassis.events import Event, add_event_tables, publish
from chassis.events.health import Heartbeats
from chassis.events.spec import EventsSpec
from chassis.events.worker import Worker, serve_health
from chassis.registry import free_port
from chassis.settings import ServiceSettings


class HealthSettings(ServiceSettings):
    """A made-up service whose one handler can be made to hang."""

    service_name: ClassVar[str] = "healthtest"


def probe(port: int, path: str) -> tuple[int, dict[str, object]]:
    """Status and JSON body of a probe."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll until `condition` holds or fail."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.fixture
def settings(tmp_path: Path) -> HealthSettings:
    """The embedded broker and a SQLite database of the test's own; stuck after 2 s.

    Above the consumer's idle read (1 s), so an idle loop never counts as stuck.
    """
    return HealthSettings(
        env="test",
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'events.db'}",
        broker_namespace="t" + uuid.uuid4().hex[:10],
        worker_stall_seconds=2.0,
    )


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set to let the hanging handler go."""
    event = threading.Event()
    yield event
    event.set()


def test_a_handler_that_hangs_fails_liveness_and_recovers(
    settings: HealthSettings, release: threading.Event
) -> None:
    def hang(session: Session, event: Event) -> None:
        release.wait(30)

    worker = Worker(settings, EventsSpec(handlers=lambda _: {"stock.changed": hang}))
    metadata = sa.MetaData()
    add_event_tables(metadata)
    metadata.create_all(worker.db.engine)
    port = free_port()
    server = serve_health(worker, port, host="127.0.0.1")
    try:
        worker.start()
        wait_for(lambda: probe(port, "/readyz")[0] == 200)
        wait_for(lambda: probe(port, "/livez")[0] == 200)
        with worker.db.session() as session:
            publish(session, "stock.changed", {"product_id": 1, "stock": 5})
        wait_for(lambda: probe(port, "/livez")[0] == 503)
        status, body = probe(port, "/livez")
        assert status == 503 and "handler of stock.changed" in str(body["stalled"])
        release.set()
        wait_for(lambda: probe(port, "/livez")[0] == 200)
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()
        assert b"events_consumed_total" in metrics
    finally:
        release.set()
        worker.shutdown()
        server.shutdown()
        server.server_close()


def test_a_loop_that_stops_beating_is_reported_stalled() -> None:
    now = [0.0]
    beats = Heartbeats(stall_seconds=10, clock=lambda: now[0])
    beats.beat("consumer")
    beats.beat("relay")
    now[0] = 9.0
    beats.beat("relay")
    assert beats.stalled() == []
    now[0] = 12.0
    assert beats.stalled() == ["consumer: no progress for 12 s"]


def test_a_handler_running_too_long_is_reported_and_forgotten_once_done() -> None:
    now = [0.0]
    beats = Heartbeats(stall_seconds=10, clock=lambda: now[0])
    with beats.running("handler"):
        now[0] = 11.0
        assert beats.stalled() == ["handler: running for 11 s"]
    assert beats.stalled() == []
