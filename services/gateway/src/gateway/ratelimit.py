"""Rate limits at the edge: per token subject, per client IP, and strict ones on sign-in."""

from __future__ import annotations

import functools
import ipaddress
import math
import posixpath
import time
from dataclasses import dataclass
from typing import Protocol

import redis
import redis.asyncio
from limits import RateLimitItem, parse_many
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from chassis.auth import Principal
from chassis.breaker import CircuitBreaker, CircuitOpen
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
    return _address_key(client[0])


# Parsing an address costs more than the rest of a rate-limit check; clients come back.
@functools.lru_cache(maxsize=4096)
def _address_key(host: str) -> str:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
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
        # Only routes of these methods can be strict; others skip normalising the path.
        self._strict_methods = frozenset(route.split(" ", 1)[0] for route in self.strict)
        # Storage keys by limit and bucket: `key_for` escapes every part on every call.
        self._keys: dict[tuple[int, tuple[str, ...]], str] = {}
        self._pool: redis.asyncio.ConnectionPool | None = None
        self._store: _WindowStore | None = None
        self._store_errors: tuple[type[BaseException], ...] = (OSError, TimeoutError)

    async def open(self) -> None:
        """Create the store: Redis when configured (shared by every worker), else memory."""
        if self.redis_url:
            # No retries, short timeouts: a slow store would delay every call, a dead one
            # only lifts the limits for a while.
            self._pool = redis.asyncio.ConnectionPool.from_url(
                self.redis_url,
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                retry=Retry(NoBackoff(), 0),
            )
            self._store = RedisWindows(self._pool, self.key_prefix)
            self._store_errors = (redis.RedisError, OSError, TimeoutError)
        else:
            self._store = MemoryWindows()
        # Sliding window counter: two counters per key (the moving window keeps one timestamp
        # per request, 600 per user), one Lua call per hit, and no double burst at a window
        # edge as with a fixed window; its count is an estimate within a request or two.

    async def aclose(self) -> None:
        """Close the store's connections."""
        pool, self._pool = self._pool, None
        self._store = None
        if pool is not None:
            await pool.aclose()

    async def check_store(self) -> None:
        """Raise when the store does not answer (for the readiness report)."""
        if self._store is None:
            raise RuntimeError("the rate limiter is not open")
        if not await self._store.check():
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
        store = self._store
        if store is None:
            raise RuntimeError("the rate limiter is not open; run the app's lifespan")
        route = public_route(method, path) if method in self._strict_methods else ""
        applied = self.limits_for(route, client_key(client), principal)
        quotas: list[Quota] = []
        try:
            with self.breaker.guard(failures=self._store_errors):
                # One after another, stopping at a refusal, so a refused call uses up nothing
                # more; only the strict routes have more than one limit to pay.
                for item, ids in applied:
                    allowed, window = await store.hit(
                        self._key(item, ids), item.amount, item.get_expiry()
                    )
                    quota = _quota(item, window)
                    if not allowed:
                        break
                    quotas.append(quota)
        except CircuitOpen:
            self._store_down(upstream)
            return None
        except self._store_errors as exc:
            log.warning("rate-limit store failed", error=type(exc).__name__, detail=str(exc))
            self._store_down(upstream)
            return None
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

    async def refuse_exhausted_ip(self, upstream: str, client: tuple[str, int] | None) -> None:
        """Raise 429, counting nothing, while the client IP's anonymous bucket is empty.

        Checked before a bearer token is verified: rejected tokens are counted in that
        bucket, so a flood of bad ones stops costing signature checks once it is empty.
        """
        store = self._store
        if store is None:
            raise RuntimeError("the rate limiter is not open; run the app's lifespan")
        if not self.breaker.allow():
            self._store_down(upstream)
            return
        ids = ("ip", client_key(client))
        try:
            for item in self.anonymous:
                # A limit of 0 admits nothing, so the hit only reads the window.
                _, window = await store.hit(self._key(item, ids), 0, item.get_expiry())
                quota = _quota(item, window)
                if quota.remaining <= 0:
                    retry_after = max(1, quota.reset_after)
                    raise TooManyRequests(
                        f"Too many requests; retry in {retry_after} seconds.",
                        headers={"Retry-After": str(retry_after), **quota.headers()},
                    )
        except self._store_errors as exc:
            self.breaker.failure()
            log.warning("rate-limit store failed", error=type(exc).__name__, detail=str(exc))
            self._store_down(upstream)
            return
        self.breaker.success()

    def _key(self, item: RateLimitItem, ids: tuple[str, ...]) -> str:
        """`item.key_for(*ids)`, remembered (items live as long as the limiter)."""
        cache_key = (id(item), ids)
        key = self._keys.get(cache_key)
        if key is None:
            if len(self._keys) >= 65536:  # many clients: start over rather than grow
                self._keys.clear()
            key = self._keys[cache_key] = item.key_for(*ids)
        return key

    def _store_down(self, upstream: str) -> None:
        """Refuse (503) a fail-closed upstream's call; count any other as served unlimited."""
        if upstream in self.fail_closed:
            raise RateLimitStoreDown(
                "Requests to this service cannot be checked right now.",
                headers={"Retry-After": STORE_DOWN_RETRY_AFTER},
            )
        DEGRADED.labels("gateway", "rate-limit-store").inc()


def _quota(item: RateLimitItem, window: Window) -> Quota:
    """A limit's window as the RateLimit-* headers state it.

    `limits`' SlidingWindowCounterRateLimiter.get_window_stats, from the counts the hit read.
    """
    previous_count, previous_ttl, current_count, current_ttl = window
    expiry = item.get_expiry()
    weighted = previous_count * previous_ttl / expiry + current_count
    remaining = max(0, item.amount - math.floor(weighted))
    now = time.time()
    reset_time = now
    if previous_count or current_count:
        previous_reset = previous_ttl % (expiry / previous_count) if previous_count else math.inf
        current_reset = current_ttl % expiry if current_count else math.inf
        reset_time = now + min(previous_reset, current_reset)
    reset_after = max(0, math.ceil(reset_time - time.time()))
    if reset_after == 0 and remaining < item.amount:
        # Redis stores a fresh window with a TTL of exactly two windows, which limits
        # reads as "resets now"; the quota actually comes back within one window.
        reset_after = expiry
    return Quota(item.amount, remaining, reset_after)


# (previous window's count, its seconds to live, current window's count, its seconds to live)
Window = tuple[int, float, int, float]


class _WindowStore(Protocol):
    """Sliding window counters: one hit, and the window as it stands after it."""

    async def hit(self, key: str, limit: int, expiry: int) -> tuple[bool, Window]:
        """Count one call against `limit` per `expiry` seconds unless that is over it."""
        ...

    async def check(self) -> bool:
        """Whether the store answers."""
        ...


class MemoryWindows:
    """Counters in this process, with the arithmetic of `limits`' MemoryStorage.

    Its asyncio locks and expiry task cost more than the gateway's whole cached answer;
    nothing here awaits, so one event loop needs no lock.
    """

    # Expired counters are dropped this often (each lives two windows).
    PURGE_SECONDS = 60.0

    def __init__(self) -> None:
        self._counts: dict[str, list[float]] = {}  # key/window -> [count, expires at]
        self._purged = time.time()

    async def hit(self, key: str, limit: int, expiry: int) -> tuple[bool, Window]:
        """Count one call unless the weighted count of both windows is at the limit."""
        now = time.time()
        counts = self._counts
        previous_key = f"{key}/{int((now - expiry) / expiry)}"
        current_key = f"{key}/{int(now / expiry)}"
        previous = counts.get(previous_key)
        previous_count = int(previous[0]) if previous and previous[1] > now else 0
        current = counts.get(current_key)
        if current is not None and current[1] <= now:
            current = None
        current_count = int(current[0]) if current else 0
        previous_ttl = 0.0
        if previous_count:
            previous_ttl = (1 - (((now - expiry) / expiry) % 1)) * expiry
        current_ttl = (1 - ((now / expiry) % 1)) * expiry + expiry
        allowed = math.floor(previous_count * previous_ttl / expiry + current_count) + 1 <= limit
        if allowed:
            if current is None:
                counts[current_key] = [1, now + 2 * expiry]
            else:
                current[0] += 1
            current_count += 1
        if now - self._purged > self.PURGE_SECONDS:
            self._purge(now)
        return allowed, (previous_count, previous_ttl, current_count, current_ttl)

    async def check(self) -> bool:
        """Memory always answers."""
        return True

    def _purge(self, now: float) -> None:
        self._purged = now
        for key in [k for k, (_, expires) in self._counts.items() if expires <= now]:
            del self._counts[key]


# `limits`' acquire_sliding_window.lua, answering the window the way its sliding_window.lua
# reads it: one round trip per limit instead of two. Same keys and arithmetic, so gateways
# running either version share the counters during a rolling deploy.
_HIT_AND_READ = """
local limit = tonumber(ARGV[1])
local expiry = tonumber(ARGV[2]) * 1000
local current_ttl = tonumber(redis.call('pttl', KEYS[2]))
if current_ttl > 0 and current_ttl < expiry then
    -- Current window expired, shift it to the previous window
    redis.call('rename', KEYS[2], KEYS[1])
    redis.call('set', KEYS[2], 0, 'PX', current_ttl + expiry)
end
local previous_count = tonumber(redis.call('get', KEYS[1])) or 0
local previous_ttl = tonumber(redis.call('pttl', KEYS[1])) or 0
local current_count = tonumber(redis.call('get', KEYS[2])) or 0
current_ttl = tonumber(redis.call('pttl', KEYS[2])) or 0
if previous_ttl <= 0 then
    previous_ttl = 0
end
if current_ttl <= 0 then
    current_ttl = 0
end
local allowed = 0
local weighted_count = math.floor(previous_count * previous_ttl / expiry) + current_count
if weighted_count + 1 <= limit then
    allowed = 1
    if redis.call('exists', KEYS[2]) == 1 then
        current_count = redis.call('incrby', KEYS[2], 1)
    else
        redis.call('set', KEYS[2], 1, 'PX', expiry * 2)
        current_count = 1
        current_ttl = expiry * 2
    end
end
-- One string, not an array of five: redis-py parses each array element on its own.
return table.concat({allowed, previous_count, previous_ttl, current_count, current_ttl}, ' ')
"""


class RedisWindows:
    """Counters in Redis, shared by every worker and replica, under `limits`' keys."""

    def __init__(self, pool: redis.asyncio.ConnectionPool, prefix: str) -> None:
        self._redis = redis.asyncio.Redis(connection_pool=pool)
        self._script = self._redis.register_script(_HIT_AND_READ)
        self._prefix = prefix

    async def hit(self, key: str, limit: int, expiry: int) -> tuple[bool, Window]:
        """One script call: count the hit when allowed, and read both windows."""
        # Braces keep both windows' keys on one Redis Cluster node, as `limits` does.
        current = f"{self._prefix}:{{{key}}}"
        answer = await self._script(keys=[f"{current}/-1", current], args=[limit, expiry])
        allowed, previous_count, previous_ttl, current_count, current_ttl = answer.split()
        window = (
            int(previous_count),
            max(0, int(previous_ttl)) / 1000,
            int(current_count),
            max(0, int(current_ttl)) / 1000,
        )
        return allowed == b"1", window

    async def check(self) -> bool:
        """Whether Redis answers a PING."""
        try:
            return bool(await self._redis.ping())
        except (redis.RedisError, OSError):
            return False
