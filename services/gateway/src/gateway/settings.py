"""Gateway settings: upstream services, their timeouts, and the edge rate limits."""

from __future__ import annotations

import re
from typing import ClassVar

from limits import parse_many
from pydantic import field_validator

from chassis.settings import ServiceSettings

# An upstream's name is one path segment of `/api/<name>/...`; `/api/docs` is the gateway's.
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
_RESERVED = frozenset({"docs"})
# A strict route is one method and one public path, e.g. `POST /api/auth/token`.
_STRICT_ROUTE = re.compile(r"^[A-Z]+ /api/[a-z][a-z0-9-]{0,31}(/[^\s/]+)+$")

DEFAULT_UPSTREAMS = {
    "catalog": "http://127.0.0.1:8001",
    "auth": "http://127.0.0.1:8002",
    "users": "http://127.0.0.1:8003",
    "orders": "http://127.0.0.1:8004",
    "payments": "http://127.0.0.1:8005",
}


def _check_limit(value: str) -> str:
    """A rate limit in `limits` notation ("10/minute", "5/second;100/hour")."""
    try:
        parse_many(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a rate limit such as '10/minute'") from exc
    return value


class GatewaySettings(ServiceSettings):
    """`BAZAAR_GATEWAY_UPSTREAMS` is JSON: `{"catalog": "http://127.0.0.1:8001"}`."""

    service_name: ClassVar[str] = "gateway"
    default_port: ClassVar[int] = 8000

    upstreams: dict[str, str] = DEFAULT_UPSTREAMS
    upstream_connect_timeout: float = 1.0
    upstream_read_timeout: float = 10.0

    # Rate limits on proxied `/api/<name>/...` calls, in `limits` notation; the store is
    # Redis when `BAZAAR_REDIS_URL` is set (shared by every worker and replica), else memory.
    rate_limits_enabled: bool = True
    rate_limit_authenticated: str = "600/minute"  # per verified token `sub`
    rate_limit_anonymous: str = "300/minute"  # per client IP (IPv6: per /64)
    # Per client IP, on top of the limits above: credential guessing and sign-up floods.
    rate_limit_strict: dict[str, str] = {
        "POST /api/auth/token": "10/minute",
        "POST /api/auth/register": "10/minute",
    }
    # Upstreams refused (503) while the rate-limit store is down; the others are served
    # without limits. Unlimited login attempts would defeat the strict limits.
    rate_limit_fail_closed: frozenset[str] = frozenset({"auth"})
    rate_limit_redis_timeout: float = 0.25
    rate_limit_key_prefix: str = "bazaar:ratelimit"

    @field_validator("upstreams")
    @classmethod
    def _check_upstreams(cls, upstreams: dict[str, str]) -> dict[str, str]:
        for name, url in upstreams.items():
            if not _NAME.match(name) or name in _RESERVED:
                raise ValueError(f"upstream name {name!r} must match {_NAME.pattern}, not be docs")
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"upstream {name!r} needs an http(s) URL, not {url!r}")
        return {name: url.rstrip("/") for name, url in upstreams.items()}

    @field_validator("rate_limit_authenticated", "rate_limit_anonymous")
    @classmethod
    def _check_limits(cls, value: str) -> str:
        return _check_limit(value)

    @field_validator("rate_limit_strict")
    @classmethod
    def _check_strict(cls, routes: dict[str, str]) -> dict[str, str]:
        for route, value in routes.items():
            if not _STRICT_ROUTE.match(route):
                raise ValueError(f"{route!r} must look like 'POST /api/auth/token'")
            _check_limit(value)
        return routes
