"""Rate limits at the edge: per token subject, per client IP, and strict ones on sign-in."""

from __future__ import annotations

import ipaddress
import math
import posixpath
import time
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.util import WindowStats
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from chassis.auth import Principal
from chassis.breaker import CircuitBreaker
from chassis.errors import ProblemError, ServiceUnavailable
from chassis.logging import get_logger
from chassis.metrics import DEGRADED
from gateway.settings import GatewaySettings

log = get_logger("gateway.ratelimit")

# After this many failed store calls in a row, requests skip the store for RESET seconds
# (then one trial call), so a dead Redis costs a flag check per request, not a timeout.
BREAKER_FAILURES = 3
BREAKER_RESET_SECONDS = 5.0
# How long clients refused because the store is down are asked to wait.
STORE_DOWN_RETRY_AFTER = str(int(BREAKER_RESET_SECONDS))
RATELIMIT_HEADERS = (b"ratelimit-limit", b"ratelimit-remaining", b"ratelimit-reset")


class TooManyRequests(ProblemError):
    """The caller is over a rate limit."""

    status, slug, title = 429, "too-many-requests", "Too Many Requests"


class RateLimitStoreDown(ServiceUnavailable):
    """The rate-limit store cannot be reached and this upstream is not served without it."""


@dataclass(frozen=True)
class Quota:
    """What is left of the limit closest to running out, for the RateLimit-* headers."""

    limit: int
    remaining: int
    reset_after: int  # seconds until the window frees up

    def headers(self) -> dict[str, str]:
        """`RateLimit-Limit`, `-Remaining`, `-Reset` (draft-ietf-httpapi-ratelimit-headers)."""
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_after),
        }

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """The same headers as ASGI header pairs."""
        return [
            (b"ratelimit-limit", str(self.limit).encode()),
            (b"ratelimit-remaining", str(self.remaining).encode()),
            (b"ratelimit-reset", str(self.reset_after).encode()),
        ]


def client_key(client: tuple[str, int] | None) -> str:
    """The bucket of a client address: the IP, or its /64 for IPv6 (one host's usual share)."""
    if not client:
        return "unknown"
    try:
        address = ipaddress.ip_address(client[0])
    except ValueError:
        return client[0]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def public_route(method: str, path: str) -> str:
    """`METHOD /path` with dot segments, repeated and trailing slashes removed."""
    normal = posixpath.normpath("/" + path.lstrip("/"))
    return f"{method} {normal}"


class RateLimiter:
    """Consumes the limits a proxied call falls under; the store opens with the app's lifespan."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.redis_url = settings.redis_url
        self.timeout = settings.rate_limit_redis_timeout
        self.key_prefix = settings.rate_limit_key_prefix
        self.fail_closed = settings.rate_limit_fail_closed
        self.authenticated = parse_many(settings.rate_limit_authenticated)
        self.anonymous = parse_many(settings.rate_limit_anonymous)
        self.strict = {
            public_route(*route.split(" ", 1)): parse_many(value)
            for route, value in settings.rate_limit_strict.items()
        }
        self.breaker = CircuitBreaker(
            fail_max=BREAKER_FAILURES, reset_seconds=BREAKER_RESET_SECONDS
        )
        self._pool: redis.asyncio.ConnectionPool | None = None
        self._storage: Storage | None = None
        self._strategy: SlidingWindowCounterRateLimiter | None = None
        self._store_errors: tuple[type[BaseException], ...] = (OSError, TimeoutError)

    async def open(self) -> None:
        """Create the store: Redis when configured (shared by every worker), else memory."""
        storage: Storage
        if self.redis_url:
            # No retries, short timeouts: a slow store would delay every call, a dead one
            # only lifts the limits for a while.
            self._pool = redis.asyncio.ConnectionPool.from_url(
                self.redis_url,
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                retry=Retry(NoBackoff(), 0),
            )
            options: dict[str, Any] = {"connection_pool": self._pool}
            storage = RedisStorage(
                "async+redis://", implementation="redispy", key_prefix=self.key_prefix, **options
            )
            self._store_errors = (redis.RedisError, OSError, TimeoutError)
        else:
            storage = MemoryStorage()
        self._storage = storage
        # Sliding window counter: two counters per key (the moving window keeps one timestamp
        # per request, 600 per user), one Lua call per hit, and no double burst at a window
        # edge as with a fixed window; its count is an estimate within a request or two.
        self._strategy = SlidingWindowCounterRateLimiter(storage)

    async def aclose(self) -> None:
        """Close the store's connections."""
        pool, self._pool = self._pool, None
        self._storage = self._strategy = None
        if pool is not None:
            await pool.aclose()

    async def check_store(self) -> None:
        """Raise when the store does not answer (for the readiness report)."""
        if self._storage is None:
            raise RuntimeError("the rate limiter is not open")
        if not await self._storage.check():
            raise ConnectionError("the rate-limit store does not answer")

    def limits_for(
        self, route: str, client: str, principal: Principal | None
    ) -> list[tuple[RateLimitItem, tuple[str, ...]]]:
        """Each limit this call counts against, strict ones first, with its bucket's ids."""
        applied: list[tuple[RateLimitItem, tuple[str, ...]]] = [
            (item, ("route", route, "ip", client)) for item in self.strict.get(route, ())
        ]
        if principal is not None:
            applied += [(item, ("sub", principal.subject)) for item in self.authenticated]
        else:
            applied += [(item, ("ip", client)) for item in self.anonymous]
        return applied

    async def check(
        self,
        upstream: str,
        method: str,
        path: str,
        client: tuple[str, int] | None,
        principal: Principal | None,
    ) -> Quota | None:
        """Count this call; raise 429 when over a limit, None when served without limits."""
        strategy = self._strategy
        if strategy is None:
            raise RuntimeError("the rate limiter is not open; run the app's lifespan")
        applied = self.limits_for(public_route(method, path), client_key(client), principal)
        if not self.breaker.allow():
            self._store_down(upstream)
            return None
        quotas: list[Quota] = []
        try:
            # One after another, stopping at a refusal, so a refused call uses up nothing
            # more; only the strict routes have more than one limit to pay.
            for item, ids in applied:
                allowed = await strategy.hit(item, *ids)
                quota = _quota(item, await strategy.get_window_stats(item, *ids))
                if not allowed:
                    break
                quotas.append(quota)
        except self._store_errors as exc:
            self.breaker.failure()
            log.warning("rate-limit store failed", error=type(exc).__name__, detail=str(exc))
            self._store_down(upstream)
            return None
        self.breaker.success()
        if len(quotas) < len(applied):
            retry_after = max(1, quota.reset_after)
            raise TooManyRequests(
                f"Too many requests; retry in {retry_after} seconds.",
                headers={
                    "Retry-After": str(retry_after),
                    **Quota(quota.limit, 0, retry_after).headers(),
                },
            )
        # The headers describe the limit closest to running out.
        return min(quotas, key=lambda q: (q.remaining, -q.reset_after))

    def _store_down(self, upstream: str) -> None:
        """Refuse (503) a fail-closed upstream's call; count any other as served unlimited."""
        if upstream in self.fail_closed:
            raise RateLimitStoreDown(
                "Requests to this service cannot be checked right now.",
                headers={"Retry-After": STORE_DOWN_RETRY_AFTER},
            )
        DEGRADED.labels("gateway", "rate-limit-store").inc()


def _quota(item: RateLimitItem, stats: WindowStats) -> Quota:
    """A limit's window as the RateLimit-* headers state it."""
    reset_after = max(0, math.ceil(stats.reset_time - time.time()))
    remaining = max(0, stats.remaining)
    if reset_after == 0 and remaining < item.amount:
        # Redis stores a fresh window with a TTL of exactly two windows, which limits
        # reads as "resets now"; the quota actually comes back within one window.
        reset_after = item.get_expiry()
    return Quota(item.amount, remaining, reset_after)
