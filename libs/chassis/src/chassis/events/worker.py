"""`bazaar events worker <service>`: the outbox relay, the consumer and periodic tasks."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from chassis import faults, tracing
from chassis.db import Database
from chassis.events.backlog import BacklogGauges
from chassis.events.broker import connect, topology_of
from chassis.events.consumer import EventConsumer
from chassis.events.health import Heartbeats
from chassis.events.relay import OutboxRelay
from chassis.events.spec import EventsSpec, PeriodicTask
from chassis.logging import configure_service_logging, get_logger
from chassis.metrics import render_latest
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
        # A connection per handler thread, one for the relay and one for a periodic task
        # (the pool overflows for the backlog gauges and further tasks).
        self.db = Database(settings.database_url, pool_size=settings.events_concurrency + 2)
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.failed: str | None = None  # the thread whose unexpected end stopped the worker
        self.heartbeats = Heartbeats(settings.worker_stall_seconds)
        self._consumer: EventConsumer | None = None
        self._started = threading.Event()

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
        relay.on_round = lambda: self.heartbeats.beat("relay")
        self._thread("relay", lambda: relay.run(self.stop))
        backlog = BacklogGauges(
            self.db,
            lambda: connect(self.settings),
            service=self.settings.service_name,
            topology=topology,
        )
        self._thread("backlog", lambda: backlog.run(self.stop))
        handlers = self.events.handlers(self.settings) if self.events.handlers else {}
        if handlers:
            consumer = EventConsumer(
                connect(self.settings),
                service=self.settings.service_name,
                db=self.db,
                handlers=handlers,
                topology=topology,
                concurrency=self.settings.events_concurrency,
                heartbeats=self.heartbeats,
            )
            self._consumer = consumer
            # What a handler publishes leaves as soon as its transaction commits.
            consumer.on_handled = relay.wake
            self._thread("consumer", lambda: consumer.run_until(self.stop))
        for task in self.events.tasks(self.settings) if self.events.tasks else []:
            self._thread(task.name, lambda t=task: _every(t, self.db, self.stop))  # type: ignore[misc]
        self._started.set()
        log.info(
            "events worker started",
            service=self.settings.service_name,
            handles=sorted(handlers),
            broker="rabbitmq" if self.settings.broker_url else "embedded",
        )

    def liveness(self) -> tuple[bool, dict[str, Any]]:
        """Alive unless a loop or a handler has made no progress for `worker_stall_seconds`."""
        stalled = self.heartbeats.stalled()
        return not stalled, {"status": "failing" if stalled else "ok", "stalled": stalled}

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Ready once started and while the consumer (if any) is attached to its queue."""
        checks = {
            "started": self._started.is_set() and not self.stop.is_set(),
            "consumer": self._consumer is None or self._consumer.ready.is_set(),
        }
        ok = all(checks.values())
        return ok, {
            "status": "ok" if ok else "failing",
            "checks": {name: "ok" if good else "failing" for name, good in checks.items()},
        }

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop every thread and wait for them."""
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout)
        self.db.dispose()


def serve_health(worker: Worker, port: int, *, host: str) -> ThreadingHTTPServer:
    """Serve /livez, /readyz and /metrics for `worker` on a thread; the caller shuts it down."""

    class Probe(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                body, content_type = render_latest()
                self._answer(200, body, content_type)
                return
            probes = {"/livez": worker.liveness, "/readyz": worker.readiness}
            if self.path not in probes:
                self._answer(404, b'{"status": "not found"}', "application/json")
                return
            ok, report = probes[self.path]()
            self._answer(200 if ok else 503, json.dumps(report).encode(), "application/json")

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Probes every few seconds are not worth a log line each."""

    server = ThreadingHTTPServer((host, port), Probe)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    return server


def run_worker(settings: ServiceSettings, events: EventsSpec) -> None:
    """Run until SIGTERM or SIGINT."""
    configure_service_logging(settings)
    tracing.configure_tracing(settings, f"{settings.service_name}-worker")
    faults.configure(settings)
    worker = Worker(settings, events)
    if settings.worker_metrics_port:
        # Workers serve no API; the probes and Prometheus use this port instead.
        serve_health(worker, settings.worker_metrics_port, host=settings.host)
    signal.signal(signal.SIGTERM, lambda *_: worker.stop.set())
    signal.signal(signal.SIGINT, lambda *_: worker.stop.set())
    worker.start()
    worker.stop.wait()
    worker.shutdown()
    tracing.shutdown()  # what the batch processor holds is written before the process ends
    if worker.failed is not None:
        raise SystemExit(1)
