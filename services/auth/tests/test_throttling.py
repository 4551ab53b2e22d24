"""Login throttling: exponential delays per account and per IP, Redis or the database.

Also: an unknown email and a wrong password are indistinguishable, in body and in time.
"""

from __future__ import annotations

import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient

from auth.throttling import (
    DatabaseThrottleStore,
    RedisThrottleStore,
    ThrottlePolicy,
    ThrottleStore,
    ThrottleUnavailable,
)

from .conftest import PASSWORD, AppFactory, log_in, make_account, parts, problem_of

WRONG = "not the right password"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def from_ip(address: str) -> dict[str, Any]:
    """Request options making the call come from `address` (through the trusted proxy)."""
    return {"headers": {"X-Forwarded-For": address}}


def test_delays_double_after_five_failures_up_to_fifteen_minutes() -> None:
    policy = ThrottlePolicy()
    delays = [policy.delay_after(n) for n in range(1, 20)]
    assert delays[:4] == [0, 0, 0, 0]
    assert delays[4:9] == [1, 2, 4, 8, 16]
    assert max(delays) == 900 and delays[-1] == 900


def test_sixth_attempt_after_five_failures_is_429_with_retry_after(
    app: APIFlask, client: FlaskClient
) -> None:
    make_account(app, email="ann@example.com")
    for _ in range(5):
        problem_of(log_in(client, "ann@example.com", WRONG), 400, "invalid_grant")

    # Refused even with the right password: it is not checked while blocked.
    response = log_in(client, "ann@example.com", PASSWORD)

    problem = problem_of(response, 429)
    assert problem["type"] == "/problems/too-many-attempts"
    assert response.headers["Retry-After"] == "1"
    assert problem["retry_after"] == 1


def test_the_block_ends_after_the_delay(make_app: AppFactory) -> None:
    app = make_app(throttle_base_delay_seconds=0.2)
    client = app.test_client()
    make_account(app, email="ann@example.com")
    for _ in range(5):
        log_in(client, "ann@example.com", WRONG)
    assert log_in(client, "ann@example.com").status_code == 429

    time.sleep(0.25)

    assert log_in(client, "ann@example.com").status_code == 200


def test_one_client_ip_failing_on_many_accounts_is_blocked(
    app: APIFlask, client: FlaskClient
) -> None:
    for n in range(5):
        log_in(client, f"nobody{n}@example.com", WRONG, **from_ip("198.51.100.7"))

    blocked = log_in(client, "someone-else@example.com", WRONG, **from_ip("198.51.100.7"))
    elsewhere = log_in(client, "someone-else@example.com", WRONG, **from_ip("198.51.100.8"))

    problem_of(blocked, 429)
    problem_of(elsewhere, 400, "invalid_grant")


def test_a_successful_login_resets_the_accounts_count(app: APIFlask, client: FlaskClient) -> None:
    make_account(app, email="ann@example.com")
    for _ in range(4):
        log_in(client, "ann@example.com", WRONG, **from_ip("198.51.100.1"))
    assert log_in(client, "ann@example.com", **from_ip("198.51.100.1")).status_code == 200
    for _ in range(4):
        log_in(client, "ann@example.com", WRONG, **from_ip("198.51.100.2"))

    assert log_in(client, "ann@example.com", **from_ip("198.51.100.3")).status_code == 200


def test_repeated_duplicate_registrations_from_one_ip_are_throttled(
    client: FlaskClient,
) -> None:
    body = {"email": "ann@example.com", "password": "correct horse battery", "display_name": "A"}
    assert client.post("/register", json=body).status_code == 201
    for _ in range(5):
        problem_of(client.post("/register", json=body), 409)

    problem_of(client.post("/register", json=body), 429)


def test_unknown_email_and_wrong_password_get_identical_answers(
    app: APIFlask, client: FlaskClient
) -> None:
    make_account(app, email="ann@example.com")

    unknown = log_in(client, "nobody@example.com", WRONG)
    wrong = log_in(client, "ann@example.com", WRONG)

    assert unknown.status_code == wrong.status_code == 400
    # The trace id names each request, as the X-Request-ID header does: the rest is identical.
    unknown_body, wrong_body = unknown.get_json(), wrong.get_json()
    assert unknown_body.pop("trace_id") != wrong_body.pop("trace_id")
    assert unknown_body == wrong_body
    headers = {k: v for k, v in unknown.headers if k != "X-Request-ID"}
    assert headers == {k: v for k, v in wrong.headers if k != "X-Request-ID"}


def test_unknown_email_and_wrong_password_take_the_same_time(make_app: AppFactory) -> None:
    # Production argon2 parameters: the dummy hash must cost what a real one does.
    app = make_app(argon2_memory_kib=19456, argon2_time_cost=2, throttle_after=1000)
    client = app.test_client()
    make_account(app, email="ann@example.com")
    log_in(client, "ann@example.com", WRONG)  # warm up the connection and caches

    def timed(email: str) -> float:
        started = time.perf_counter()
        assert log_in(client, email, WRONG).status_code == 400
        return time.perf_counter() - started

    unknown, wrong = [], []
    for _ in range(7):
        unknown.append(timed("nobody@example.com"))
        wrong.append(timed("ann@example.com"))

    assert abs(statistics.median(unknown) - statistics.median(wrong)) < 0.050
    assert statistics.median(wrong) > 0.01  # argon2 really ran


def test_redis_configured_but_unreachable_makes_token_and_register_503(
    make_app: AppFactory, closed_port: int
) -> None:
    app = make_app(redis_url=f"redis://127.0.0.1:{closed_port}/0")
    client = app.test_client()

    problem_of(log_in(client, "ann@example.com"), 503)
    body = {"email": "ann@example.com", "password": "correct horse battery", "display_name": "A"}
    problem_of(client.post("/register", json=body), 503)


def test_throttling_with_redis_blocks_after_five_failures(
    make_app: AppFactory, redis_url: str
) -> None:
    app = make_app(redis_url=redis_url)
    client = app.test_client()
    email = f"{uuid.uuid4().hex}@example.com"
    ip = from_ip(f"203.0.113.{uuid.uuid4().int % 250}")
    make_account(app, email=email)
    for _ in range(5):
        problem_of(log_in(client, email, WRONG, **ip), 400, "invalid_grant")

    response = log_in(client, email, **ip)

    problem_of(response, 429)
    assert response.headers["Retry-After"] == "1"


# -- the stores, with a hand-moved clock ------------------------------------------------------


@pytest.fixture(params=["database", "redis"])
def store_and_clock(request: pytest.FixtureRequest, app: APIFlask) -> tuple[ThrottleStore, Clock]:
    """Each store with a fake clock (Redis keys are unique per test)."""
    clock = Clock()
    policy = ThrottlePolicy(after=5, base_delay=1.0, max_delay=8.0, forget_after=60.0)
    if request.param == "database":
        return DatabaseThrottleStore(parts(app).db, policy, clock=clock), clock
    redis_url: str = request.getfixturevalue("redis_url")
    store = RedisThrottleStore(redis_url, policy, clock=clock)
    request.addfinalizer(store.close)
    return store, clock


def test_store_blocks_doubles_caps_and_forgets(
    store_and_clock: tuple[ThrottleStore, Clock],
) -> None:
    store, clock = store_and_clock
    key = f"account:{uuid.uuid4().hex}"
    for _ in range(4):
        store.record_failure([key])
    assert store.blocked_for([key]) == 0

    store.record_failure([key])
    assert store.blocked_for([key]) == pytest.approx(1.0)
    clock.now += 1.01
    assert store.blocked_for([key]) == 0

    for expected in (2.0, 4.0, 8.0, 8.0):
        store.record_failure([key])
        assert store.blocked_for([key]) == pytest.approx(expected)

    clock.now += 8.5  # the block ran out, but the count goes on
    store.record_failure([key])
    assert store.blocked_for([key]) == pytest.approx(8.0)

    clock.now += 8 + 61  # quiet for longer than forget_after: the count starts over
    store.record_failure([key])
    assert store.blocked_for([key]) == 0

    store.reset(key)
    assert store.blocked_for([key, "ip:unrelated"]) == 0


def test_database_store_failure_is_503(tmp_path: Path) -> None:
    from chassis.db import Database

    db = Database(f"sqlite:///{tmp_path / 'no-tables.db'}")
    store = DatabaseThrottleStore(db, ThrottlePolicy())
    with pytest.raises(ThrottleUnavailable):
        store.blocked_for(["ip:1.2.3.4"])
    db.dispose()
