"""What a service declares about its events, so `bazaar events worker` can run them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chassis.db import Database
from chassis.events.inbox import Handler


@dataclass(frozen=True)
class PeriodicTask:
    """Work the service's worker runs every `interval` seconds (a watchdog, say)."""

    name: str
    interval: float
    run: Callable[[Database], object]


@dataclass(frozen=True)
class EventsSpec:
    """A service's side of the event backbone.

    `handlers(settings)` maps each event type the service consumes to its handler; the
    worker binds the service's queue to exactly those types. `tasks(settings)` lists
    periodic work. Both take the service's own settings, hence `Callable[..., X]`.
    """

    handlers: Callable[..., dict[str, Handler]] | None = None
    tasks: Callable[..., list[PeriodicTask]] | None = None
