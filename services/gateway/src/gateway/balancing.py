"""Which instance of a service takes the next request: health verdicts and order, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar


@dataclass
class Health:
    """An instance's health as the gateway sees it, from consecutive outcomes.

    Until its first outcome an instance is presumed healthy (it takes requests) but
    unproven; that first outcome decides at once, so a gateway starting next to a dead
    instance ejects it on the first probe instead of after `unhealthy_threshold` of them.
    After that, `unhealthy_threshold` failures in a row eject it and `healthy_threshold`
    successes in a row take it back: one lost probe never flaps an instance.
    """

    unhealthy_threshold: int
    healthy_threshold: int
    healthy: bool = True
    known: bool = False
    failures: int = 0
    successes: int = 0

    def failed(self) -> bool:
        """Count a failure; True when it ejects the instance."""
        self.successes = 0
        self.failures += 1
        first, self.known = not self.known, True
        if self.healthy and (first or self.failures >= self.unhealthy_threshold):
            self.healthy = False
            return True
        return False

    def succeeded(self) -> bool:
        """Count a success; True when it takes an ejected instance back."""
        self.failures = 0
        self.successes += 1
        self.known = True
        if not self.healthy and self.successes >= self.healthy_threshold:
            self.healthy = True
            return True
        return False


class Member(Protocol):
    """What the balancer reads of an instance."""

    health: Health
    outstanding: int  # requests sent whose responses are not finished, streams included


M = TypeVar("M", bound=Member)


class LeastOutstanding:
    """Healthy instances first, the one with the fewest requests in flight first.

    Ties, which is every request when the platform is idle, go to the instances in
    turn, so light traffic is spread evenly too. Ejected instances come last rather
    than not at all: when every instance is ejected ("panic", as Envoy calls it) the
    gateway still tries them, because a health checker that is wrong must not be able
    to take a whole service offline.
    """

    def __init__(self) -> None:
        self._turn = 0

    def order(self, members: Sequence[M]) -> list[M]:
        """Every member, in the order a request should try them."""
        if len(members) < 2:
            return list(members)  # nothing to choose between: skip the sort on every call
        start = self._turn % len(members)
        self._turn += 1
        rotated = [*members[start:], *members[:start]]
        # sorted() is stable: among equals the rotation decides.
        return sorted(rotated, key=lambda m: (not m.health.healthy, m.outstanding))
