"""The consumer: each event is handled once, in one transaction with its inbox record.

A failing handler is retried with backoff; when it still fails, the message is parked on
the service's dead letter queue (`bazaar events dlq` lists, `bazaar events replay` re-drives).
A message that is not a valid event is parked at once: retrying cannot fix it.

Handlers run on a small pool of threads, so one message's database round trips overlap
another's; every message keeps its own transaction. The broker channel is not thread-safe,
so acks and dead letters are done by the consuming thread, which takes the pool's verdicts
between reads.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from kombu.connection import Connection
from kombu.entity import Queue
from kombu.message import Message
from kombu.messaging import Consumer, Producer
from kombu.mixins import ConsumerMixin
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from pydantic import ValidationError

from chassis import faults, tracing
from chassis.db import Database, utcnow
from chassis.events.broker import Topology
from chassis.events.contracts import ContractViolation
from chassis.events.envelope import Event
from chassis.events.health import Heartbeats
from chassis.events.inbox import Handler, handle_once
from chassis.logging import get_logger
from chassis.metrics import EVENT_HANDLER_FAILURES, EVENTS_CONSUMED

log = get_logger("chassis.events.consumer")
DEFAULT_RETRY_DELAYS = (0.1, 0.5, 2.0)
DEFAULT_CONCURRENCY = 8
# How long the consuming thread waits for a delivery before it looks for finished handlers
# to ack while some are in flight; an ack never delays the saga (the effects are committed
# before it), it only frees a prefetch slot. With nothing in flight it waits longer.
ACK_INTERVAL = 0.02
IDLE_READ_INTERVAL = 1.0


@dataclass(frozen=True)
class _Verdict:
    """What a handler thread decided about one delivery; the consuming thread carries it out."""

    message: Message
    dead: bool
    error: str = ""
    attempts: int = 0


class EventConsumer(ConsumerMixin):
    """Consumes one service's queue and runs its handlers."""

    def __init__(
        self,
        connection: Connection,
        *,
        service: str,
        db: Database,
        handlers: dict[str, Handler],
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        prefetch: int = 32,
        concurrency: int = DEFAULT_CONCURRENCY,
        topology: Topology | None = None,
        heartbeats: Heartbeats | None = None,
    ) -> None:
        self.connection = connection
        self.service = service
        self.db = db
        self.handlers = handlers
        self.retry_delays = tuple(retry_delays)
        # SQLite has one writer: more handler threads would only queue on its lock.
        self.concurrency = max(1, concurrency if db.dialect == "postgresql" else 1)
        self.prefetch = max(prefetch, 2 * self.concurrency)
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="handler")
        self._stopping = threading.Event()
        self._in_flight = 0  # submitted, not yet settled; touched by the consuming thread only
        self._verdicts: queue.SimpleQueue[_Verdict] = queue.SimpleQueue()
        self.topology = topology or Topology()
        self.queue: Queue = self.topology.service_queue(service, handlers)
        self.ready = threading.Event()  # set once the queue is declared and consumed
        # Called after each handled event's commit: the worker wakes its relay with it, so
        # what the handler published leaves at once instead of at the next poll.
        self.on_handled: Callable[[], None] | None = None
        # The worker's liveness: the consuming loop beats, each handler run is timed.
        self.heartbeats = heartbeats or Heartbeats(stall_seconds=float("inf"))

    def on_consume_ready(self, connection: Any, channel: Any, consumers: Any, **_: Any) -> None:
        """Tell waiters that messages published from now on reach this consumer."""
        self.ready.set()

    def on_connection_error(self, exc: Exception, interval: float) -> None:
        """Log a lost broker; kombu reconnects after `interval` seconds."""
        self.ready.clear()
        self.heartbeats.beat("consumer")  # alive, waiting for the broker: readiness says so
        log.warning("broker connection lost; reconnecting", error=repr(exc), retry_in=interval)

    def get_consumers(self, consumer_class: Any, channel: Any) -> list[Consumer]:
        """One consumer on the service's queue (declared, with its dead letter queue)."""
        self.topology.declare(channel, self.queue, self.topology.dead_queue(self.service))
        consumer = consumer_class(
            queues=[self.queue],
            callbacks=[self.on_message],
            accept=["json", "application/json"],
            prefetch_count=self.prefetch,
        )
        return [consumer]

    def on_message(self, body: Any, message: Message) -> None:
        """Take one delivery: check it here, run its handler on the pool."""
        try:
            event = Event.model_validate(body)
        except ValidationError as exc:
            reason = f"not an event envelope: {exc.error_count()} errors"
            # No trace to continue (the envelope is unreadable): a span of its own says why.
            with tracing.span(
                "dead-letter unreadable message",
                kind=SpanKind.CONSUMER,
                links=[link] if (link := tracing.link_to(message.headers)) else None,
            ):
                tracing.record_error(reason)
                self.dead_letter(message, reason, 1)
            return
        handler = self.handlers.get(event.type)
        if handler is None:
            message.ack()  # bound by an older version of this service; nothing to do now
            return
        if self._stopping.is_set():
            return  # left unacked: the broker delivers it again after we have gone
        self._in_flight += 1
        self._pool.submit(self._handle, message, event, handler)

    def _handle(self, message: Message, event: Event, handler: Handler) -> None:
        """Run a handler with retries (on a pool thread); leave the verdict for the consumer."""
        faults.wait_while("events_paused", self._stopping)
        try:
            with self.heartbeats.running(f"handler of {event.type}"):
                verdict = self.handle(message, event, handler)
            self._verdicts.put(verdict)
        except BaseException as exc:  # never lose a delivery: park it with the reason
            self._verdicts.put(_Verdict(message, dead=True, error=repr(exc), attempts=1))

    def handle(self, message: Message, event: Event, handler: Handler) -> _Verdict:
        """Handle one event in its own transaction, retrying with backoff; the verdict.

        The handler's span continues the trace of the span that wrote the outbox row and
        links to the relay's send, so every consumer of one message is a sibling in its trace.
        """
        if not tracing.enabled():
            return self._handle_with_retries(message, event, handler)
        parent = tracing.extract(event.trace) if event.trace else None
        link = tracing.link_to(message.headers)
        with tracing.span(
            f"handle {event.type}",
            kind=SpanKind.CONSUMER,
            parent=parent,
            links=[link] if link else None,
            attributes={
                tracing.EVENT_ID: event.id,
                tracing.EVENT_TYPE: event.type,
                "messaging.operation.type": "process",
                "messaging.destination.name": self.queue.name,
                **_order_of(event),
            },
        ) as current:
            verdict = self._handle_with_retries(message, event, handler)
            if current.is_recording():
                current.set_attribute("bazaar.attempts", verdict.attempts or 1)
                if verdict.dead:
                    current.set_attribute("bazaar.dead_lettered", True)
                    tracing.record_error(f"dead-lettered: {verdict.error}")
            return verdict

    def _handle_with_retries(self, message: Message, event: Event, handler: Handler) -> _Verdict:
        error = ""
        attempts = 0
        for delay in (*self.retry_delays, None):
            attempts += 1
            try:
                with self.db.session() as session:
                    handled = handle_once(session, event, handler)
                outcome = "handled" if handled else "duplicate"
                EVENTS_CONSUMED.labels(self.service, event.type, outcome).inc()
                log.info(
                    "event handled" if handled else "duplicate event dropped",
                    event_id=event.id,
                    type=event.type,
                    correlation_id=event.correlation_id,
                )
                if handled and self.on_handled is not None:
                    self.on_handled()
                return _Verdict(message, dead=False, attempts=attempts)
            except ContractViolation as exc:
                error = str(exc)
                break
            except Exception as exc:
                error = repr(exc)
                span = trace.get_current_span()
                if span.is_recording():
                    span.add_event("attempt failed", {"attempt": attempts, "error": error[:500]})
                EVENT_HANDLER_FAILURES.labels(self.service, event.type).inc()
                log.warning(
                    "event handler failed", event_id=event.id, type=event.type, error=error,
                    attempt=attempts,
                )  # fmt: skip
                if delay is None or self._stopping.is_set():
                    break
                threading.Event().wait(delay)
        return _Verdict(message, dead=True, error=error, attempts=attempts)

    def on_iteration(self) -> None:
        """Between reads: ack (or dead-letter) what the handler threads finished."""
        self.heartbeats.beat("consumer")
        self.settle()

    def settle(self) -> int:
        """Carry out the finished verdicts on the consuming thread; how many there were."""
        done = 0
        while True:
            try:
                verdict = self._verdicts.get_nowait()
            except queue.Empty:
                return done
            done += 1
            self._in_flight -= 1
            try:
                if verdict.dead:
                    self.dead_letter(verdict.message, verdict.error, verdict.attempts)
                else:
                    verdict.message.ack()
            except Exception as exc:
                # The channel it came on is gone (a reconnect): the broker delivers it again
                # and the inbox drops the repeat, or the handler retries it.
                log.warning("could not settle a delivery", error=repr(exc))

    def dead_letter(self, message: Message, error: str, attempts: int) -> None:
        """Park a message on the dead letter queue with why, then ack the original."""
        headers = dict(message.headers or {})
        headers.update(
            {
                "x-error": error[:1000],
                "x-attempts": attempts,
                "x-dead-lettered-at": utcnow().isoformat(),
                "x-original-routing-key": message.delivery_info.get("routing_key", ""),
            }
        )
        producer = Producer(message.channel, exchange=self.topology.dead_exchange)
        producer.publish(
            message.body,
            routing_key=self.topology.queue_name(self.service),
            content_type=message.content_type or "application/json",
            content_encoding=message.content_encoding or "utf-8",
            headers=headers,
            delivery_mode=2,
            retry=False,
        )
        message.ack()
        event_type = str(headers.get("x-original-routing-key") or "unknown")
        EVENTS_CONSUMED.labels(self.service, event_type, "dead_lettered").inc()
        log.error("event dead-lettered", service=self.service, error=error, attempts=attempts)

    def consume(
        self,
        limit: int | None = None,
        timeout: float | None = None,
        safety_interval: float = IDLE_READ_INTERVAL,
        **kwargs: Any,
    ) -> Iterator[None]:
        """kombu's loop (unlimited, no overall timeout), reading briefly while handlers are in
        flight so that their acks go out."""
        with self.consumer_context(**kwargs) as (connection, _, _):
            while not self.should_stop:
                self.on_iteration()
                interval = ACK_INTERVAL if self._in_flight else safety_interval
                try:
                    connection.drain_events(timeout=interval)
                except TimeoutError:  # socket.timeout
                    connection.heartbeat_check()
                except OSError:
                    if not self.should_stop:
                        raise
                else:
                    yield

    def run_until(self, stop: threading.Event) -> None:
        """Consume until `stop` is set (reconnecting while the broker is away)."""
        watcher = threading.Thread(target=self._watch, args=(stop,), daemon=True)
        watcher.start()
        try:
            self.run()
        finally:
            self._pool.shutdown(wait=True)
            self.connection.release()

    def _watch(self, stop: threading.Event) -> None:
        stop.wait()
        # Let in-flight handlers commit and the consuming thread ack them before the channel
        # closes; anything left unacked is delivered again and dropped by the inbox.
        self._stopping.set()
        self._pool.shutdown(wait=True)
        deadline = time.monotonic() + 1.0
        while not self._verdicts.empty() and time.monotonic() < deadline:
            time.sleep(ACK_INTERVAL)
        self.should_stop = True


def _order_of(event: Event) -> dict[str, str]:
    """The order an event is about, as the attribute `bazaar trace <order id>` looks for."""
    order_id = event.payload.get("order_id")
    return {tracing.ORDER_ID: order_id} if isinstance(order_id, str) else {}
