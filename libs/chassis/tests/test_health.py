"""Readiness checks: running them, and the Redis and broker checks against real servers."""

from __future__ import annotations

import socket

import pytest
import redis

from chassis.health import HealthChecks, dependency_checks, redis_check, tcp_check
from chassis.testing import backend_missing

REDIS_URL = "redis://127.0.0.1:6379/0"
BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/"


def reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def redis_up() -> None:
    if not reachable(6379):
        backend_missing("Redis at 127.0.0.1:6379", "Start Redis to run this test.")


@pytest.fixture
def broker_up() -> None:
    if not reachable(5672):
        backend_missing("RabbitMQ at 127.0.0.1:5672", "Start RabbitMQ to run this test.")


def failing_check() -> None:
    raise ConnectionRefusedError("down")


def test_run_reports_every_check_and_ok_when_all_pass() -> None:
    checks = HealthChecks()
    checks.add("database", lambda: None)
    checks.add("cache", lambda: None)

    ok, report = checks.run()

    assert ok
    assert report["status"] == "ok"
    assert set(report["checks"]) == {"database", "cache"}
    assert all(c["status"] == "ok" and c["ms"] >= 0 for c in report["checks"].values())


def test_one_failing_check_fails_readiness_and_names_the_error_only() -> None:
    checks = HealthChecks()
    checks.add("cache", failing_check)
    checks.add("database", lambda: None)

    ok, report = checks.run()

    assert not ok
    assert report["status"] == "failing"
    assert report["checks"]["cache"] == {
        "status": "failing",
        "error": "ConnectionRefusedError",
        "ms": report["checks"]["cache"]["ms"],
    }
    assert report["checks"]["database"]["status"] == "ok"


def test_a_failing_advisory_check_is_reported_but_keeps_the_service_ready() -> None:
    checks = HealthChecks()
    checks.add("broker", failing_check, advisory=True)
    checks.add("database", lambda: None)

    ok, report = checks.run()

    assert ok
    assert report["status"] == "ok"
    assert report["checks"]["broker"]["status"] == "failing"
    assert report["checks"]["broker"]["advisory"] is True


def test_no_checks_means_ready() -> None:
    assert HealthChecks().run() == (True, {"status": "ok", "checks": {}})


def test_dependency_checks_are_empty_without_redis_or_broker() -> None:
    assert dependency_checks(None, None) == {}


def test_dependency_checks_include_redis_when_configured() -> None:
    assert set(dependency_checks(REDIS_URL, None)) == {"redis"}


def test_dependency_checks_include_an_amqp_broker_only() -> None:
    assert set(dependency_checks(None, BROKER_URL)) == {"broker"}
    assert dependency_checks(None, "memory://") == {}


def test_redis_check_passes_against_a_real_redis(redis_up: None) -> None:
    dependency_checks(REDIS_URL, None)["redis"]()


def test_redis_check_fails_on_a_closed_port(unused_port: int) -> None:
    check = redis_check(f"redis://127.0.0.1:{unused_port}/0", timeout=0.5)

    with pytest.raises(redis.ConnectionError):
        check()


def test_broker_check_passes_against_a_real_rabbitmq(broker_up: None) -> None:
    dependency_checks(None, BROKER_URL)["broker"]()


def test_broker_check_uses_the_default_port_when_the_url_has_none(broker_up: None) -> None:
    tcp_check("amqp://guest:guest@127.0.0.1/", default_port=5672)()


def test_broker_check_fails_on_a_closed_port(unused_port: int) -> None:
    check = tcp_check(f"amqp://127.0.0.1:{unused_port}/", default_port=5672, timeout=0.5)

    with pytest.raises(OSError):
        check()


def test_readiness_with_real_redis_and_a_dead_broker(redis_up: None, unused_port: int) -> None:
    checks = HealthChecks()
    for name, check in dependency_checks(REDIS_URL, f"amqp://127.0.0.1:{unused_port}/").items():
        checks.add(name, check)

    ok, report = checks.run()

    assert not ok
    assert report["checks"]["redis"]["status"] == "ok"
    assert report["checks"]["broker"]["status"] == "failing"
