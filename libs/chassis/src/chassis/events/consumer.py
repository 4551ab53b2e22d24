"""The consumer: each event is handled once, in one transaction with its inbox record.

A failing handler is retried with backoff; when it still fails, the message is parked on
the service's dead letter queue (`bazaar events dlq` lists, `bazaar events replay` re-drives).
A message that is not a valid event is parked at once: retrying cannot fix it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from kombu.connection import Connection
from kombu.entity import Queue
from kombu.message import Message
from kombu.messaging import Consumer, Producer
from kombu.mixins import ConsumerMixin
from pydantic import ValidationError

from chassis.db import Database, utcnow
from chassis.events.broker import Topology
from chassis.events.contracts import ContractViolation
from chassis.events.envelope import Event
from chassis.events.inbox import Handler, handle_once
from chassis.logging import get_logger
from chassis.metrics import EVENT_HANDLER_FAILURES, EVENTS_CONSUMED

log = get_logger("chassis.events.consumer")
DEFAULT_RETRY_DELAYS = (0.1, 0.5, 2.0)


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
        prefetch: int = 16,
        topology: Topology | None = None,
    ) -> None:
        self.connection = connection
        self.service = service
        self.db = db
        self.handlers = handlers
        self.retry_delays = tuple(retry_delays)
        self.prefetch = prefetch
        self.topology = topology or Topology()
        self.queue: Queue = self.topology.service_queue(service, handlers)
        self.ready = threading.Event()  # set once the queue is declared and consumed

    def on_consume_ready(self, connection: Any, channel: Any, consumers: Any, **_: Any) -> None:
        """Tell waiters that messages published from now on reach this consumer."""
        self.ready.set()

    def on_connection_error(self, exc: Exception, interval: float) -> None:
        """Log a lost broker; kombu reconnects after `interval` seconds."""
        self.ready.clear()
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
        """Handle one delivery: ack when handled (or a duplicate), else dead-letter."""
        try:
            event = Event.model_validate(body)
        except ValidationError as exc:
            self.dead_letter(message, f"not an event envelope: {exc.error_count()} errors", 1)
            return
        handler = self.handlers.get(event.type)
        if handler is None:
            message.ack()  # bound by an older version of this service; nothing to do now
            return
        error = ""
        attempts = 0
        for delay in (*self.retry_delays, None):
            attempts += 1
            try:
                with self.db.session() as session:
                    handled = handle_once(session, event, handler)
                message.ack()
                outcome = "handled" if handled else "duplicate"
                EVENTS_CONSUMED.labels(self.service, event.type, outcome).inc()
                log.info(
                    "event handled" if handled else "duplicate event dropped",
                    event_id=event.id,
                    type=event.type,
                    correlation_id=event.correlation_id,
                )
                return
            except ContractViolation as exc:
                error = str(exc)
                break
            except Exception as exc:
                error = repr(exc)
                EVENT_HANDLER_FAILURES.labels(self.service, event.type).inc()
                log.warning(
                    "event handler failed", event_id=event.id, type=event.type, error=error,
                    attempt=attempts,
                )  # fmt: skip
                if delay is None or self.should_stop:
                    break
                threading.Event().wait(delay)
        self.dead_letter(message, error, attempts)

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

    def run_until(self, stop: threading.Event) -> None:
        """Consume until `stop` is set (reconnecting while the broker is away)."""
        watcher = threading.Thread(target=self._watch, args=(stop,), daemon=True)
        watcher.start()
        try:
            self.run()
        finally:
            self.connection.release()

    def _watch(self, stop: threading.Event) -> None:
        stop.wait()
        self.should_stop = True
