"""CircuitBreaker: closed, open, half-open with one trial, driven by a fake clock."""

from __future__ import annotations

import asyncio
import threading

import pytest

from chassis.breaker import BreakerState, CircuitBreaker, CircuitOpen


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def breaker(clock: FakeClock) -> CircuitBreaker:
    return CircuitBreaker(fail_max=3, reset_seconds=10.0, clock=clock)


def open_it(breaker: CircuitBreaker) -> None:
    for _ in range(breaker.fail_max):
        assert breaker.allow()
        breaker.failure()


def test_a_new_breaker_is_closed_and_lets_calls_through(breaker: CircuitBreaker) -> None:
    assert breaker.state is BreakerState.CLOSED
    assert all(breaker.allow() for _ in range(10))


def test_stays_closed_below_fail_max(breaker: CircuitBreaker) -> None:
    breaker.failure()
    breaker.failure()

    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow()


def test_opens_after_fail_max_consecutive_failures(breaker: CircuitBreaker) -> None:
    open_it(breaker)

    assert breaker.state is BreakerState.OPEN


def test_a_success_resets_the_failure_count(breaker: CircuitBreaker) -> None:
    breaker.failure()
    breaker.failure()
    breaker.success()
    breaker.failure()
    breaker.failure()

    assert breaker.state is BreakerState.CLOSED


def test_refuses_every_call_while_open(breaker: CircuitBreaker, clock: FakeClock) -> None:
    open_it(breaker)
    clock.advance(9.9)

    assert not any(breaker.allow() for _ in range(5))
    assert breaker.state is BreakerState.OPEN


def test_half_open_after_reset_seconds_lets_exactly_one_trial(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    open_it(breaker)
    clock.advance(10.0)

    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow()
    assert not breaker.allow()


def test_half_open_trial_admitted_once_among_concurrent_callers(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    open_it(breaker)
    clock.advance(10.0)
    start = threading.Barrier(16)
    admitted: list[bool] = []

    def call() -> None:
        start.wait()
        admitted.append(breaker.allow())

    threads = [threading.Thread(target=call) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert admitted.count(True) == 1


def test_successful_trial_closes_the_circuit(breaker: CircuitBreaker, clock: FakeClock) -> None:
    open_it(breaker)
    clock.advance(10.0)
    assert breaker.allow()

    breaker.success()

    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow() and breaker.allow()


def test_failed_trial_reopens_for_another_reset_period(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    open_it(breaker)
    clock.advance(10.0)
    assert breaker.allow()

    breaker.failure()

    assert breaker.state is BreakerState.OPEN
    clock.advance(9.9)
    assert not breaker.allow()
    clock.advance(0.1)
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()


def test_after_closing_it_takes_fail_max_failures_to_open_again(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    open_it(breaker)
    clock.advance(10.0)
    breaker.allow()
    breaker.success()

    breaker.failure()
    breaker.failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.failure()
    assert breaker.state is BreakerState.OPEN


def test_state_values_are_readable_strings() -> None:
    assert [s.value for s in BreakerState] == ["closed", "open", "half_open"]


# -- the guard: allow, try, record; a trial never stays taken ---------------------------------


class StoreDown(Exception):
    """The failure the guarded call is expected to meet."""


def half_open(breaker: CircuitBreaker, clock: FakeClock) -> None:
    open_it(breaker)
    clock.advance(breaker.reset_seconds)
    assert breaker.state is BreakerState.HALF_OPEN


def test_the_guard_records_successes_and_expected_failures(breaker: CircuitBreaker) -> None:
    for _ in range(breaker.fail_max):
        with pytest.raises(StoreDown), breaker.guard(failures=(StoreDown,)):
            raise StoreDown
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpen), breaker.guard(failures=(StoreDown,)):
        pytest.fail("an open circuit let the call through")


def test_the_guard_refuses_with_the_callers_error(breaker: CircuitBreaker) -> None:
    open_it(breaker)
    with pytest.raises(LookupError), breaker.guard(failures=(), refused=LookupError):
        pytest.fail("an open circuit let the call through")


def test_an_answer_marked_failed_counts_against_the_circuit(breaker: CircuitBreaker) -> None:
    for _ in range(breaker.fail_max):
        with breaker.guard(failures=()) as call:
            call.fail()
    assert breaker.state is BreakerState.OPEN


def test_a_half_open_trial_raising_something_unexpected_frees_the_circuit(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    half_open(breaker, clock)
    with pytest.raises(KeyError), breaker.guard(failures=(StoreDown,)):
        raise KeyError("a bug, not the store")
    # Open again for one period (the trial proved nothing), then a new trial is let through.
    assert breaker.state is BreakerState.OPEN
    clock.advance(breaker.reset_seconds)
    with breaker.guard(failures=(StoreDown,)):
        pass
    assert breaker.state is BreakerState.CLOSED


def test_an_unexpected_error_outside_a_trial_does_not_count(breaker: CircuitBreaker) -> None:
    for _ in range(breaker.fail_max * 2):
        with pytest.raises(KeyError), breaker.guard(failures=(StoreDown,)):
            raise KeyError("a bug, not the store")
    assert breaker.state is BreakerState.CLOSED


def test_a_cancelled_half_open_trial_frees_the_circuit(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    half_open(breaker, clock)

    async def cancel_a_trial() -> None:
        started = asyncio.Event()

        async def trial() -> None:
            with breaker.guard(failures=(StoreDown,)):
                started.set()
                await asyncio.Event().wait()

        task = asyncio.create_task(trial())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_a_trial())
    clock.advance(breaker.reset_seconds)
    assert breaker.allow(), "the cancelled trial still holds the circuit"
