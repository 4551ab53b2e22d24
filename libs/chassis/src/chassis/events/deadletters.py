"""The dead letter queue of a service: list what failed, and send it through again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kombu.connection import Connection
from kombu.messaging import Producer

from chassis.events.broker import Topology
from chassis.events.envelope import Event


@dataclass(frozen=True)
class DeadLetter:
    """One parked message and why it was parked."""

    event_id: str
    type: str
    error: str
    attempts: int
    dead_lettered_at: str
    body: str


def _describe(message: Any) -> DeadLetter:
    headers = message.headers or {}
    body = message.body.decode() if isinstance(message.body, bytes) else str(message.body)
    try:
        event = Event.from_json(body)
        event_id, event_type = event.id, event.type
    except ValueError:
        event_id, event_type = "?", str(headers.get("x-original-routing-key", "?"))
    return DeadLetter(
        event_id=event_id,
        type=event_type,
        error=str(headers.get("x-error", "")),
        attempts=int(headers.get("x-attempts", 0) or 0),
        dead_lettered_at=str(headers.get("x-dead-lettered-at", "")),
        body=body,
    )


def _drain(connection: Connection, service: str, topology: Topology) -> tuple[Any, list[Any]]:
    channel = connection.default_channel
    queue = topology.dead_queue(service).bind(channel)
    topology.declare(channel, queue)
    messages = []
    while (message := queue.get(no_ack=False)) is not None:
        messages.append(message)
    return channel, messages


def list_dead_letters(
    connection: Connection, service: str, topology: Topology | None = None
) -> list[DeadLetter]:
    """Every message on the service's dead letter queue; they stay there."""
    _, messages = _drain(connection, service, topology or Topology())
    letters = [_describe(m) for m in messages]
    for message in messages:
        message.requeue()
    return letters


def replay_dead_letters(
    connection: Connection,
    service: str,
    event_ids: set[str] | None = None,
    topology: Topology | None = None,
) -> list[DeadLetter]:
    """Send parked messages (all, or those with the given event ids) back to the service.

    They go to the service's own queue only, not to every subscriber of their type.
    """
    topology = topology or Topology()
    channel, messages = _drain(connection, service, topology)
    producer = Producer(channel)
    replayed = []
    for message in messages:
        letter = _describe(message)
        if event_ids is not None and letter.event_id not in event_ids:
            message.requeue()
            continue
        headers = {k: v for k, v in (message.headers or {}).items() if not str(k).startswith("x-")}
        producer.publish(
            letter.body,
            exchange="",
            routing_key=topology.queue_name(service),
            content_type="application/json",
            content_encoding="utf-8",
            headers=headers,
            delivery_mode=2,
            retry=False,
        )
        message.ack()
        replayed.append(letter)
    return replayed
