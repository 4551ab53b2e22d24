"""Shared caching: Redis when configured, a local diskcache otherwise, behind one API.

Keys are explicit and versioned: `<namespace>:cache:v<KEY_VERSION>:<owner>:<scope>:g<N>:<key>`.
Invalidation never searches for keys: the owner bumps the scope's generation counter `N`,
and every reader moves to new keys at once while the old entries expire by TTL. A cache that
cannot be reached is skipped (counted and logged), never an error: the caller loads from the
database, and a circuit breaker tries the cache again a little later (ADR 0011).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import diskcache  # type: ignore[import-untyped]
import redis
from cachetools import TTLCache
from prometheus_client import Counter
from sqlalchemy import event
from sqlalchemy.orm import Session

from chassis import faults
from chassis.breaker import BreakerState, CircuitBreaker, CircuitOpen
from chassis.logging import get_logger
from chassis.settings import ServiceSettings

# Bump when the stored representation changes, so a rolling deploy never reads old entries.
KEY_VERSION = 1
log = get_logger("chassis.cache")

Outcome = Literal["hit", "miss", "unavailable"]
CACHE_LOOKUPS = Counter(
    "cache_lookups_total",
    "Cache lookups by outcome: hit, miss (loaded and stored) or unavailable (cache skipped).",
    ["service", "cache", "outcome"],
)
CACHE_ERRORS = Counter(
    "cache_errors_total",
    "Cache operations that failed because the cache backend could not be reached.",
    ["service", "cache"],
)


class CacheUnavailable(Exception):
    """The cache backend cannot be reached (or timed out)."""


class CacheBackend(Protocol):
    """The few operations the cache needs; every one may raise CacheUnavailable."""

    def get(self, key: str) -> bytes | None:
        """The stored value, or None."""

    def set(self, key: str, value: bytes, ttl: float) -> None:
        """Store `value` for `ttl` seconds."""

    def add(self, key: str, value: bytes, ttl: float) -> bool:
        """Store `value` only when `key` is absent; True when stored."""

    def delete(self, key: str) -> None:
        """Forget `key`."""

    def incr(self, key: str, seed: int) -> int:
        """Add one to a counter (created at `seed` when absent) and return the new value."""

    def seed(self, key: str, value: int) -> int:
        """The counter at `key`, set to `value` first when absent (never expiring)."""

    def close(self) -> None:
        """Release connections."""


# Atomic in Redis: a flush between a separate EXISTS and INCR would restart the counter at 1.
_INCR_SEEDED = "redis.call('SET', KEYS[1], ARGV[1], 'NX') return redis.call('INCR', KEYS[1])"
_GET_SEEDED = "redis.call('SET', KEYS[1], ARGV[1], 'NX') return redis.call('GET', KEYS[1])"


class RedisBackend:
    """Redis, with short timeouts: a slow cache must cost less than the database."""

    def __init__(self, url: str, *, timeout: float = 0.25) -> None:
        self._redis = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._incr_seeded = self._redis.register_script(_INCR_SEEDED)
        self._get_seeded = self._redis.register_script(_GET_SEEDED)

    def get(self, key: str) -> bytes | None:
        """The stored value, or None."""
        try:
            value = self._redis.get(key)
        except redis.RedisError as exc:
            raise CacheUnavailable(str(exc)) from exc
        return value if isinstance(value, bytes) else None

    def set(self, key: str, value: bytes, ttl: float) -> None:
        """Store `value` for `ttl` seconds."""
        try:
            self._redis.set(key, value, px=max(1, int(ttl * 1000)))
        except redis.RedisError as exc:
            raise CacheUnavailable(str(exc)) from exc

    def add(self, key: str, value: bytes, ttl: float) -> bool:
        """SET NX with an expiry."""
        try:
            return bool(self._redis.set(key, value, px=max(1, int(ttl * 1000)), nx=True))
        except redis.RedisError as exc:
            raise CacheUnavailable(str(exc)) from exc

    def delete(self, key: str) -> None:
        """Forget `key`."""
        try:
            self._redis.delete(key)
        except redis.RedisError as exc:
            raise CacheUnavailable(str(exc)) from exc

    def incr(self, key: str, seed: int) -> int:
        """INCR, from `seed` when the key is missing."""
        try:
            return int(self._incr_seeded(keys=[key], args=[seed]))
        except redis.RedisError as exc:
            raise CacheUnavailable(str(exc)) from exc

    def seed(self, key: str, value: int) -> int:
        """SET NX, then GET, in one script."""
        try:
            return int(self._get_seeded(keys=[key], args=[value]))
        except redis.RedisError as exc:
            raise CacheUnavailable(str(exc)) from exc

    def close(self) -> None:
        """Close the connection pool."""
        self._redis.close()


class LocalBackend:
    """A diskcache folder shared by every process of a local platform (no server needed)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._opened: Any = None
        self._open_lock = threading.Lock()

    @property
    def _cache(self) -> Any:
        # Opened on first use: a process that never caches never creates the folder.
        if self._opened is None:
            with self._open_lock:
                if self._opened is None:
                    self.directory.mkdir(parents=True, exist_ok=True)
                    # timeout: SQLite's busy wait; a cache slower than this is skipped.
                    # No eviction by size: it could drop a generation counter, and a reset
                    # counter would bring old entries back. Entries expire by their TTL.
                    self._opened = diskcache.Cache(
                        str(self.directory), timeout=0.25, eviction_policy="none"
                    )
        return self._opened

    def _call(self, operation: Callable[[], Any]) -> Any:
        try:
            return operation()
        except (diskcache.Timeout, sqlite3.Error, OSError) as exc:
            raise CacheUnavailable(str(exc)) from exc

    def get(self, key: str) -> bytes | None:
        """The stored value, or None."""
        value = self._call(lambda: self._cache.get(key))
        if isinstance(value, int):  # a counter from incr, stored natively by diskcache
            return str(value).encode()
        return value if isinstance(value, bytes) else None

    def set(self, key: str, value: bytes, ttl: float) -> None:
        """Store `value` for `ttl` seconds."""
        self._call(lambda: self._cache.set(key, value, expire=ttl))

    def add(self, key: str, value: bytes, ttl: float) -> bool:
        """Store only when absent (atomic across processes)."""
        return bool(self._call(lambda: self._cache.add(key, value, expire=ttl)))

    def delete(self, key: str) -> None:
        """Forget `key`."""
        self._call(lambda: self._cache.delete(key))

    def incr(self, key: str, seed: int) -> int:
        """Atomic increment across processes, from `seed` when the key is missing."""
        return int(self._call(lambda: self._cache.incr(key, default=seed)))

    def seed(self, key: str, value: int) -> int:
        """Store `value` when the key is absent, then read whichever value won."""

        def seeded() -> int:
            with self._cache.transact():
                self._cache.add(key, value)
                return int(self._cache.get(key, default=value))

        return int(self._call(seeded))

    def close(self) -> None:
        """Close the SQLite connections."""
        if self._opened is not None:
            self._opened.close()


def backend_from_settings(settings: ServiceSettings) -> CacheBackend | None:
    """Redis when `redis_url` is set, else a folder under the data dir; None when disabled."""
    if not settings.cache_enabled:
        return None
    if settings.redis_url:
        return RedisBackend(settings.redis_url)
    return LocalBackend(settings.data_dir / "cache")


_backends: dict[tuple[str, str], CacheBackend | None] = {}
_backends_lock = threading.Lock()


def shared_backend(settings: ServiceSettings) -> CacheBackend | None:
    """One backend (one connection pool) per process and location."""
    location = (settings.redis_url or str(settings.data_dir), str(settings.cache_enabled))
    with _backends_lock:
        if location not in _backends:
            _backends[location] = backend_from_settings(settings)
        return _backends[location]


def generation_seed() -> int:
    """Where a lost generation counter restarts: microseconds since the epoch.

    Above any value the counter held before, unless it was bumped more than a million
    times a second on average since it was last seeded, so old entries never come back.
    """
    return time.time_ns() // 1000


def hashed(text: str) -> str:
    """A short stable digest, so keys stay small whatever the URL or query."""
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


class Cache:
    """One owner's cache: generations per scope, single-flight loads, graceful degradation.

    `owner` is the service whose data is cached (catalog); `service` names the process using
    it in metrics (the gateway caches catalog responses too, under the catalog's generations).
    """

    def __init__(
        self,
        backend: CacheBackend | None,
        *,
        owner: str,
        service: str,
        namespace: str = "bazaar",
        generation_ttl: float = 0.1,
        lock_ttl: float = 5.0,
        wait_seconds: float = 2.0,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.backend = backend
        self.owner = owner
        self.service = service
        self.prefix = f"{namespace}:cache:v{KEY_VERSION}:{owner}"
        self.lock_ttl = lock_ttl
        self.wait_seconds = wait_seconds
        self.breaker = breaker or CircuitBreaker(fail_max=3, reset_seconds=2.0)
        # Generations are read at most every `generation_ttl` seconds per process: an extra
        # round trip per request would cost more than the staleness bound (well under 1 s).
        self._generations: TTLCache[str, int] = TTLCache(maxsize=4096, ttl=generation_ttl)
        self._generations_lock = threading.Lock()
        self._inflight: dict[str, Future[bytes | None]] = {}
        self._inflight_lock = threading.Lock()
        self._was_down = False

    @property
    def enabled(self) -> bool:
        """False when caching is switched off for this deployment."""
        return self.backend is not None

    # -- backend calls, each guarded by the breaker -------------------------------------

    def _guarded(self, operation: Callable[[CacheBackend], Any]) -> Any:
        if self.backend is None:
            raise CacheUnavailable("cache disabled")
        backend = self.backend
        try:
            if faults.active("cache_unavailable"):
                raise CacheUnavailable("fault flag cache_unavailable is on")
            with self.breaker.guard(failures=(CacheUnavailable,)):
                result = operation(backend)
        except CircuitOpen as exc:
            raise CacheUnavailable("circuit open") from exc
        except CacheUnavailable as exc:
            CACHE_ERRORS.labels(self.service, self.owner).inc()
            if self.breaker.state is not BreakerState.CLOSED and not self._was_down:
                self._was_down = True
                log.warning("cache unavailable; serving from the source", error=str(exc))
            raise
        if self._was_down:
            self._was_down = False
            log.info("cache available again")
        return result

    # -- generations ----------------------------------------------------------------------

    def _generation_key(self, scope: str) -> str:
        return f"{self.prefix}:{scope}:generation"

    def generation(self, scope: str) -> int | None:
        """The scope's current generation, or None when the cache cannot be reached."""
        with self._generations_lock:
            cached = self._generations.get(scope)
        if cached is not None:
            return cached
        key = self._generation_key(scope)
        try:
            raw = self._guarded(lambda b: b.get(key))
            # A missing counter means the store lost its data: restarting at 0 would bring
            # back entries this process (or the gateway's memory) kept under small numbers.
            value = int(raw) if raw else self._guarded(lambda b: b.seed(key, generation_seed()))
        except CacheUnavailable:
            return None
        with self._generations_lock:
            self._generations[scope] = value
        return value

    def memoized_generation(self, scope: str) -> int | None:
        """The generation read within the last `generation_ttl`, without asking the store."""
        with self._generations_lock:
            return self._generations.get(scope)

    def bump(self, scope: str) -> None:
        """Invalidate every entry of `scope` by moving it to a new generation."""
        try:
            value = self._guarded(lambda b: b.incr(self._generation_key(scope), generation_seed()))
        except CacheUnavailable:
            # Entries written before the outage may outlive it by their TTL; keep TTLs short.
            log.warning("cache generation not bumped", scope=scope)
            return
        with self._generations_lock:
            self._generations[scope] = value

    def bump_after_commit(self, session: Session, scope: str) -> None:
        """Bump `scope` once `session` commits (never for a rolled-back change)."""
        scopes: set[str] = session.info.setdefault("cache_bumps", set())
        if not scopes:
            event.listen(session, "after_commit", self._after_commit, once=True)
        scopes.add(scope)

    def _after_commit(self, session: Session) -> None:
        for scope in sorted(session.info.pop("cache_bumps", set())):
            self.bump(scope)

    # -- entries -----------------------------------------------------------------------

    def key(self, scope: str, generation: int, key: str) -> str:
        """The full storage key of one entry."""
        return f"{self.prefix}:{scope}:g{generation}:{hashed(key)}"

    def peek(self, scope: str, key: str) -> tuple[bytes | None, str | None]:
        """The stored value and its full key; (None, None) when the cache is unreachable."""
        generation = self.generation(scope)
        if generation is None:
            return None, None
        full = self.key(scope, generation, key)
        try:
            return self._guarded(lambda b: b.get(full)), full
        except CacheUnavailable:
            return None, None

    def store(self, full_key: str, value: bytes, ttl: float) -> None:
        """Store a value under a key from `peek`; failures are counted and ignored."""
        with contextlib.suppress(CacheUnavailable):
            self._guarded(lambda b: b.set(full_key, value, ttl))

    def fetch(
        self, scope: str, key: str, load: Callable[[], bytes | None], *, ttl: float
    ) -> tuple[bytes | None, Outcome]:
        """The cached value for `key`, else `load()` stored for `ttl` seconds.

        `load` returning None means "do not cache this" (an error, say); the caller then
        produces its answer itself. Concurrent misses for one key, in this process and across
        processes sharing the backend, run `load` once: the rest wait for its result.
        """
        value, full = self.peek(scope, key)
        if value is not None:
            CACHE_LOOKUPS.labels(self.service, self.owner, "hit").inc()
            return value, "hit"
        if full is None:
            CACHE_LOOKUPS.labels(self.service, self.owner, "unavailable").inc()
            return load(), "unavailable"
        CACHE_LOOKUPS.labels(self.service, self.owner, "miss").inc()
        return self._single_flight(full, load, ttl), "miss"

    def _single_flight(
        self, full: str, load: Callable[[], bytes | None], ttl: float
    ) -> bytes | None:
        with self._inflight_lock:
            leader = full not in self._inflight
            if leader:
                self._inflight[full] = Future()
            future = self._inflight[full]
        if not leader:
            try:
                return future.result(timeout=self.wait_seconds + self.lock_ttl)
            except Exception:  # the leader failed: this caller loads for itself
                return load()
        try:
            value = self._load_across_processes(full, load, ttl)
        except BaseException as exc:
            future.set_exception(exc)
            raise
        else:
            future.set_result(value)
            return value
        finally:
            with self._inflight_lock:
                self._inflight.pop(full, None)

    def _load_across_processes(
        self, full: str, load: Callable[[], bytes | None], ttl: float
    ) -> bytes | None:
        lock = full + ":lock"
        try:
            owner = self._guarded(lambda b: b.add(lock, uuid.uuid4().bytes, self.lock_ttl))
        except CacheUnavailable:
            return load()
        if not owner:
            # Another process is loading this key: wait for its result, not the database.
            deadline = time.monotonic() + self.wait_seconds
            delay = 0.002
            while time.monotonic() < deadline:
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
                try:
                    value = self._guarded(lambda b: b.get(full))
                except CacheUnavailable:
                    break
                if value is not None:
                    return value  # type: ignore[no-any-return]
            return load()
        try:
            # A loader that finished between our miss and our lock has left the value.
            with contextlib.suppress(CacheUnavailable):
                stored = self._guarded(lambda b: b.get(full))
                if stored is not None:
                    return stored  # type: ignore[no-any-return]
            value = load()
            if value is not None:
                self.store(full, value, ttl)
            return value
        finally:
            with contextlib.suppress(CacheUnavailable):  # else the lock expires by itself
                self._guarded(lambda b: b.delete(lock))


# -- stored HTTP responses ------------------------------------------------------------


@dataclass(frozen=True)
class StoredResponse:
    """An HTTP response as the cache keeps it: status, the headers worth replaying, body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def dumps(self) -> bytes:
        """One JSON line of metadata, then the body bytes as they are."""
        meta = json.dumps({"status": self.status, "headers": self.headers}).encode()
        return meta + b"\n" + self.body

    @classmethod
    def loads(cls, data: bytes) -> StoredResponse | None:
        """The response, or None for an entry this version cannot read."""
        meta, sep, body = data.partition(b"\n")
        if not sep:
            return None
        try:
            parsed = json.loads(meta)
            headers = tuple((str(k), str(v)) for k, v in parsed["headers"])
            return cls(status=int(parsed["status"]), headers=headers, body=body)
        except (ValueError, KeyError, TypeError):
            return None

    def header(self, name: str) -> str | None:
        """A header's value, case-insensitively."""
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)


def etag_for(body: bytes) -> str:
    """A strong ETag: the body's digest, so equal bodies get equal tags on every instance."""
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names `etag` (weak comparison, as RFC 9110 asks)."""
    if not if_none_match:
        return False
    wanted = etag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == wanted:
            return True
    return False
