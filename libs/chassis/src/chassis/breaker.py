"""A circuit breaker that never holds a lock while a call is in flight.

pybreaker serialises every call through the breaker under one lock and its async
support needs tornado, so it fits neither threaded nor asyncio callers (ADR 0003).

Callers go through `CircuitBreaker.guard()`, one `with` block per call (in a coroutine too):
allowed or refused, then success, an expected failure, or an outcome that says nothing
(another error, a cancellation), which frees a half-open trial instead of keeping it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import StrEnum
from types import TracebackType


class BreakerState(StrEnum):
    """Closed lets calls through, open refuses them, half-open lets one trial through."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpen(Exception):
    """The circuit is open: the call was refused without being made."""


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
        return self._admit() is not None

    def _admit(self) -> bool | None:
        """None when refused; else whether this call is the half-open trial."""
        with self._lock:
            state = self._state_locked()
            if state is BreakerState.CLOSED:
                return False
            if state is BreakerState.HALF_OPEN and not self._trial_in_flight:
                self._trial_in_flight = True
                return True
            return None

    def guard(
        self,
        *,
        failures: tuple[type[BaseException], ...],
        refused: Callable[[], BaseException] = lambda: CircuitOpen("circuit open"),
    ) -> BreakerGuard:
        """One call through the breaker: `with breaker.guard(failures=(...)) as call:`.

        Entering raises `refused()` while the circuit is open. Leaving records a success, or a
        failure when one of `failures` was raised or `call.fail()` was called; anything else
        (a bug, a cancellation) says nothing about the dependency and only frees the trial.
        """
        return BreakerGuard(self, failures, refused)

    def abandon(self, trial: bool) -> None:
        """A call ended without a verdict: if it was the trial, open again for one period.

        Waiting for a verdict that never comes would refuse every later call for good;
        re-opening keeps a call that fails this way every time from hammering the dependency.
        """
        if not trial:
            return
        with self._lock:
            if self._trial_in_flight:
                self._trial_in_flight = False
                self._opened_at = self._clock()

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


class BreakerGuard:
    """What `CircuitBreaker.guard()` returns: a context manager for one call."""

    def __init__(
        self,
        breaker: CircuitBreaker,
        failures: tuple[type[BaseException], ...],
        refused: Callable[[], BaseException],
    ) -> None:
        self._breaker = breaker
        self._failures = failures
        self._refused = refused
        self._trial = False
        self._failed = False

    def fail(self) -> None:
        """Count this call as failed though it raised nothing (a 503 answer, say)."""
        self._failed = True

    def __enter__(self) -> BreakerGuard:
        admitted = self._breaker._admit()
        if admitted is None:
            raise self._refused()
        self._trial = admitted
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is None:
            if self._failed:
                self._breaker.failure()
            else:
                self._breaker.success()
        elif isinstance(exc, self._failures):
            self._breaker.failure()
        else:
            self._breaker.abandon(self._trial)
