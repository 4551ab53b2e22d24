"""Liveness and readiness: readiness runs every dependency check a service registered."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

Check = Callable[[], None]


@dataclass
class HealthChecks:
    """Named dependency checks; each raises when its dependency is not usable."""

    checks: dict[str, Check] = field(default_factory=dict)
    advisory: set[str] = field(default_factory=set)

    def add(self, name: str, check: Check, *, advisory: bool = False) -> None:
        """Register a readiness check; an advisory one is reported but never fails readiness."""
        self.checks[name] = check
        if advisory:
            self.advisory.add(name)

    def run(self) -> tuple[bool, dict[str, Any]]:
        """Run every check; report each one's outcome and latency."""
        results: dict[str, Any] = {}
        ok = True
        for name, check in self.checks.items():
            started = time.perf_counter()
            try:
                check()
                results[name] = {"status": "ok"}
            except Exception as exc:
                ok = ok and name in self.advisory
                results[name] = {"status": "failing", "error": type(exc).__name__}
                if name in self.advisory:
                    results[name]["advisory"] = True
            results[name]["ms"] = round((time.perf_counter() - started) * 1000, 2)
        return ok, {"status": "ok" if ok else "failing", "checks": results}


def redis_check(url: str, timeout: float = 1.0) -> Check:
    """A check that PINGs Redis."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)

    def check() -> None:
        client.ping()

    return check


def tcp_check(url: str, default_port: int, timeout: float = 1.0) -> Check:
    """A check that opens a TCP connection to the host of a URL (brokers before kombu)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port

    def check() -> None:
        with socket.create_connection((host, port), timeout=timeout):
            pass

    return check


def dependency_checks(redis_url: str | None, broker_url: str | None) -> dict[str, Check]:
    """Checks for the optional cache and broker a service is configured with."""
    checks: dict[str, Check] = {}
    if redis_url:
        checks["redis"] = redis_check(redis_url)
    if broker_url and broker_url.startswith("amqp"):
        checks["broker"] = tcp_check(broker_url, 5672)
    return checks
