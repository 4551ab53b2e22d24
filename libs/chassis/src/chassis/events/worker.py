"""`bazaar events worker <service>`: the outbox relay, the consumer and periodic tasks."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

from prometheus_client import start_http_server

from chassis.db import Database
from chassis.events.broker import connect, topology_of
from chassis.events.consumer import EventConsumer
from chassis.events.relay import OutboxRelay
from chassis.events.spec import EventsSpec, PeriodicTask
from chassis.logging import configure_service_logging, get_logger
from chassis.settings import ServiceSettings

log = get_logger("chassis.events.worker")


def _every(task: PeriodicTask, db: Database, stop: threading.Event) -> None:
    while not stop.wait(task.interval):
        try:
            task.run(db)
        except Exception as exc:  # a failing round must not end the loop; the next may pass
            log.error("periodic task failed", task=task.name, error=repr(exc))


class Worker:
    """Runs a service's event work in threads until stopped."""

    def __init__(self, settings: ServiceSettings, events: EventsSpec) -> None:
        self.settings = settings
        self.events = events
        # A connection per handler thread, one for the relay and one for a periodic task.
        self.db = Database(settings.database_url, pool_size=settings.events_concurrency + 2)
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.failed: str | None = None  # the thread whose unexpected end stopped the worker

    def _thread(self, name: str, target: Callable[[], None]) -> None:
        def run() -> None:
            try:
                target()
            except BaseException as exc:
                # A worker without its consumer (or relay) would look alive and do nothing:
                # stop it, so that whatever supervises it starts a new one.
                log.exception("worker thread failed; stopping", thread=name, error=repr(exc))
                self.failed = name
                self.stop.set()

        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def start(self) -> None:
        """Start the relay, the consumer (when the service handles events) and the tasks."""
        topology = topology_of(self.settings)
        relay = OutboxRelay(
            self.db, connect(self.settings), topology=topology, service=self.settings.service_name
        )
        self._thread("relay", lambda: relay.run(self.stop))
        handlers = self.events.handlers(self.settings) if self.events.handlers else {}
        if handlers:
            consumer = EventConsumer(
                connect(self.settings),
                service=self.settings.service_name,
                db=self.db,
                handlers=handlers,
                topology=topology,
                concurrency=self.settings.events_concurrency,
            )
            # What a handler publishes leaves as soon as its transaction commits.
            consumer.on_handled = relay.wake
            self._thread("consumer", lambda: consumer.run_until(self.stop))
        for task in self.events.tasks(self.settings) if self.events.tasks else []:
            self._thread(task.name, lambda t=task: _every(t, self.db, self.stop))  # type: ignore[misc]
        log.info(
            "events worker started",
            service=self.settings.service_name,
            handles=sorted(handlers),
            broker="rabbitmq" if self.settings.broker_url else "embedded",
        )

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop every thread and wait for them."""
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout)
        self.db.dispose()


def run_worker(settings: ServiceSettings, events: EventsSpec) -> None:
    """Run until SIGTERM or SIGINT."""
    configure_service_logging(settings)
    worker = Worker(settings, events)
    if settings.worker_metrics_port:
        # Workers serve no HTTP of their own; Prometheus scrapes this port instead.
        start_http_server(settings.worker_metrics_port, addr=settings.host)
    signal.signal(signal.SIGTERM, lambda *_: worker.stop.set())
    signal.signal(signal.SIGINT, lambda *_: worker.stop.set())
    worker.start()
    worker.stop.wait()
    worker.shutdown()
    if worker.failed is not None:
        raise SystemExit(1)
