"""Connections and topology: one topic exchange, a queue per consuming service, a dead letter
queue per service.

RabbitMQ in production and CI (`BAZAAR_BROKER_URL=amqp://...`), with publisher confirms;
on embedded defaults a folder under the data directory, shared by every process of the
platform. The topology and every call on it are the same on both.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kombu.connection import Connection
from kombu.entity import Exchange, Queue, binding

from chassis.settings import ServiceSettings

POLLING_INTERVAL = 0.05  # seconds between polls of the embedded transport


@dataclass(frozen=True)
class Topology:
    """Exchange and queue names under one namespace (`BAZAAR_BROKER_NAMESPACE`).

    Two platforms sharing one broker (staging beside production, parallel test runs)
    never see each other's messages when their namespaces differ.
    """

    namespace: str = "bazaar"

    @property
    def events_exchange(self) -> Exchange:
        """The topic exchange every event is published to, routed by its type."""
        return Exchange(f"{self.namespace}.events", type="topic", durable=True)

    @property
    def dead_exchange(self) -> Exchange:
        """Where failed messages go, routed by the name of the queue they failed in."""
        return Exchange(f"{self.namespace}.dead", type="direct", durable=True)

    def queue_name(self, service: str) -> str:
        """The queue a service consumes its events from."""
        return f"{self.namespace}.{service}.events"

    def service_queue(self, service: str, event_types: Iterable[str]) -> Queue:
        """A service's durable queue, bound to each event type it handles.

        On RabbitMQ a message the service rejects goes to the dead letter exchange; the
        consumer also dead-letters explicitly, which works on every transport.
        """
        exchange = self.events_exchange
        return Queue(
            self.queue_name(service),
            exchange=exchange,
            bindings=[binding(exchange, routing_key=t) for t in sorted(event_types)],
            durable=True,
            queue_arguments={
                "x-dead-letter-exchange": self.dead_exchange.name,
                "x-dead-letter-routing-key": self.queue_name(service),
            },
        )

    def dead_queue(self, service: str) -> Queue:
        """A service's dead letter queue."""
        return Queue(
            f"{self.namespace}.{service}.dead",
            exchange=self.dead_exchange,
            routing_key=self.queue_name(service),
            durable=True,
        )

    def declare(self, channel: Any, *queues: Queue) -> None:
        """Declare both exchanges and the given queues on a channel (idempotent everywhere)."""
        entities: tuple[Any, ...] = (self.events_exchange, self.dead_exchange, *queues)
        for entity in entities:
            entity.bind(channel).declare()


def topology_of(settings: ServiceSettings) -> Topology:
    """The topology named by the settings."""
    return Topology(settings.broker_namespace)


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
