"""The gateway's breakers (rate-limit store, revocation list) survive odd half-open trials."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from chassis.breaker import CircuitBreaker
from chassis.revocation import RevocationUnavailable
from gateway.ratelimit import RateLimiter
from gateway.tokens import GuardedRevocationList

from .conftest import gateway_settings

pytestmark = pytest.mark.anyio


class Clock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def half_open_breaker(clock: Clock) -> CircuitBreaker:
    breaker = CircuitBreaker(fail_max=1, reset_seconds=2.0, clock=clock)
    breaker.failure()
    clock.now += 2.0
    return breaker


class Windows:
    """A rate-limit store that hangs, raises, or counts, as told."""

    def __init__(self) -> None:
        self.mode = "count"
        self.entered = asyncio.Event()

    async def hit(self, key: str, amount: int, expiry: int) -> tuple[bool, Any]:
        self.entered.set()
        if self.mode == "hang":
            await asyncio.Event().wait()
        if self.mode == "raise":
            raise ValueError("the reply did not parse")
        return True, (0, 0.0, 1, float(expiry))

    async def check(self) -> bool:
        return True


def limiter_with(windows: Windows, breaker: CircuitBreaker) -> RateLimiter:
    limiter = RateLimiter(gateway_settings())
    limiter._store = windows  # type: ignore[assignment]
    limiter.breaker = breaker
    return limiter


async def check(limiter: RateLimiter) -> Any:
    return await limiter.check("catalog", "GET", "/products", ("10.0.0.1", 1), None)


async def test_a_cancelled_rate_limit_trial_does_not_lift_the_limits_for_good() -> None:
    clock = Clock()
    windows = Windows()
    limiter = limiter_with(windows, half_open_breaker(clock))
    windows.mode = "hang"
    task = asyncio.create_task(check(limiter))
    await windows.entered.wait()
    task.cancel()  # the client went away during the trial
    with pytest.raises(asyncio.CancelledError):
        await task
    windows.mode = "count"
    clock.now += 2.0
    assert await check(limiter) is not None, "limits stayed off after a cancelled trial"


async def test_a_rate_limit_trial_raising_an_unexpected_error_frees_the_breaker() -> None:
    clock = Clock()
    windows = Windows()
    limiter = limiter_with(windows, half_open_breaker(clock))
    windows.mode = "raise"
    with pytest.raises(ValueError):
        await check(limiter)
    windows.mode = "count"
    clock.now += 2.0
    assert await check(limiter) is not None, "limits stayed off after a failed trial"


class Revocations:
    """A revocation store that raises `failure` while it is set, else knows no revoked token."""

    def __init__(self, failure: Exception | None) -> None:
        self.failure = failure

    def revoke(self, jti: str, expires_at: int) -> None:
        """Not used here."""

    def is_revoked(self, jti: str) -> bool:
        if self.failure is not None:
            raise self.failure
        return False


def test_a_revocation_trial_raising_an_unexpected_error_frees_the_breaker() -> None:
    clock = Clock()
    store = Revocations(ValueError("the reply did not parse"))
    guarded = GuardedRevocationList(store, half_open_breaker(clock))
    with pytest.raises(ValueError):
        guarded.is_revoked("jti")
    store.failure = None
    clock.now += 2.0
    assert guarded.is_revoked("jti") is False, "tokens stayed refused after a failed trial"


def test_signed_in_requests_are_served_again_a_second_after_the_revocation_store_returns() -> None:
    store = Revocations(RevocationUnavailable("connection refused"))
    guarded = GuardedRevocationList(store)
    for _ in range(guarded.breaker.fail_max):
        with pytest.raises(RevocationUnavailable):
            guarded.is_revoked("jti")
    store.failure = None  # the store is back; the open circuit still refuses at once
    with pytest.raises(RevocationUnavailable):
        guarded.is_revoked("jti")
    # The chaos criterion is 5 s from the fault's end to every request served: the circuit's
    # own wait must leave most of it to the store's recovery.
    time.sleep(1.05)
    assert guarded.is_revoked("jti") is False
