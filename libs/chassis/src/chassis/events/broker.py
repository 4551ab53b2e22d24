"""Connections and topology: one topic exchange, a queue per consuming service, a dead letter
queue per service.

RabbitMQ in production and CI (`BAZAAR_BROKER_URL=amqp://...`), with publisher confirms;
on embedded defaults a folder under the data directory, shared by every process of the
platform. The topology and every call on it are the same on both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kombu.connection import Connection
from kombu.entity import Exchange, Queue

from chassis.settings import ServiceSettings

EVENTS_EXCHANGE = Exchange("bazaar.events", type="topic", durable=True)
DEAD_EXCHANGE = Exchange("bazaar.dead", type="direct", durable=True)
POLLING_INTERVAL = 0.05  # seconds between polls of the embedded transport


def queue_name(service: str) -> str:
    """The queue a service consumes its events from."""
    return f"{service}.events"


def dead_queue_name(service: str) -> str:
    """The queue a service's failed events are parked in."""
    return f"{service}.dead"


def service_queue(service: str, event_types: list[str] | tuple[str, ...]) -> Queue:
    """A service's durable queue, bound to each event type it handles.

    On RabbitMQ a message the service rejects goes to the dead letter exchange; the
    consumer also dead-letters explicitly, which works on every transport.
    """
    bindings = [_binding(t) for t in sorted(event_types)]
    return Queue(
        queue_name(service),
        exchange=EVENTS_EXCHANGE,
        bindings=bindings,
        durable=True,
        queue_arguments={
            "x-dead-letter-exchange": DEAD_EXCHANGE.name,
            "x-dead-letter-routing-key": queue_name(service),
        },
    )


def _binding(event_type: str) -> Any:
    from kombu.entity import binding

    return binding(EVENTS_EXCHANGE, routing_key=event_type)


def dead_queue(service: str) -> Queue:
    """A service's dead letter queue."""
    return Queue(
        dead_queue_name(service),
        exchange=DEAD_EXCHANGE,
        routing_key=queue_name(service),
        durable=True,
    )


def embedded_folder(settings: ServiceSettings) -> Path:
    """Where the embedded transport keeps messages: shared by the whole platform."""
    return Path(settings.data_dir) / "broker"


def connect(settings: ServiceSettings) -> Connection:
    """A kombu connection to the configured broker (not yet connected)."""
    if settings.broker_url:
        return Connection(
            settings.broker_url,
            heartbeat=30,
            connect_timeout=5,
            transport_options={"confirm_publish": True},
        )
    from chassis.events.transport import Transport

    root = embedded_folder(settings).resolve()
    messages, control = root / "messages", root / "control"
    for folder in (messages, control):
        folder.mkdir(parents=True, exist_ok=True)
    return Connection(
        transport=Transport,
        transport_options={
            "data_folder_in": str(messages),
            "data_folder_out": str(messages),
            "control_folder": str(control),
            "polling_interval": POLLING_INTERVAL,
        },
    )


def declare(channel: Any, *entities: Any) -> None:
    """Declare the exchanges and the given queues on a channel (idempotent everywhere)."""
    for entity in (EVENTS_EXCHANGE, DEAD_EXCHANGE, *entities):
        entity.bind(channel).declare()
