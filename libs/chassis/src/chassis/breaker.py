"""A circuit breaker that never holds a lock while a call is in flight.

pybreaker serialises every call through the breaker under one lock and its async
support needs tornado, so it fits neither threaded nor asyncio callers (ADR 0003).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    """Closed lets calls through, open refuses them, half-open lets one trial through."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Opens after `fail_max` consecutive failures; retries one call after `reset_seconds`."""

    def __init__(
        self,
        *,
        fail_max: int = 5,
        reset_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fail_max = fail_max
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def state(self) -> BreakerState:
        """The current state, moving from open to half-open once the timeout passed."""
        with self._lock:
            return self._state_locked()

    def _state_locked(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self.reset_seconds:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allow(self) -> bool:
        """Whether a call may go ahead now; in half-open only one trial at a time."""
        with self._lock:
            state = self._state_locked()
            if state is BreakerState.CLOSED:
                return True
            if state is BreakerState.HALF_OPEN and not self._trial_in_flight:
                self._trial_in_flight = True
                return True
            return False

    def success(self) -> None:
        """A call succeeded: close the circuit."""
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_in_flight = False

    def failure(self) -> None:
        """A call failed: count it, and open (or re-open) the circuit at the limit."""
        with self._lock:
            self._failures += 1
            if self._trial_in_flight or self._failures >= self.fail_max:
                self._opened_at = self._clock()
            self._trial_in_flight = False
