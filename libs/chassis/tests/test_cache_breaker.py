"""The cache's breaker: a half-open trial that fails in an unexpected way does not shut it."""

from __future__ import annotations

import pytest

from chassis.breaker import CircuitBreaker
from chassis.cache import Cache


class Clock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Backend:
    """A store whose reads raise `error` while it is set."""

    def __init__(self) -> None:
        self.error: BaseException | None = None

    def get(self, key: str) -> bytes | None:
        if self.error is not None:
            raise self.error
        return None

    def seed(self, key: str, value: int) -> int:
        return value


def test_a_half_open_trial_raising_an_unexpected_error_lets_the_next_trial_through() -> None:
    clock = Clock()
    breaker = CircuitBreaker(fail_max=1, reset_seconds=2.0, clock=clock)
    backend = Backend()
    cache = Cache(backend, owner="things", service="test", breaker=breaker)  # type: ignore[arg-type]
    breaker.failure()  # the store was down
    clock.now += 2.0  # half-open: the next read is the trial
    backend.error = ValueError("the client choked on a reply")
    with pytest.raises(ValueError):
        cache.generation("public")
    backend.error = None
    clock.now += 2.0
    assert cache.generation("public") is not None, "the cache stayed shut after the failed trial"
