"""Faults on demand: named flags an operator flips at run time, read by every process.

The flags live in one place every process of every service reads: a Redis hash when
`redis_url` is set, else a diskcache folder under the data dir (the embedded platform).
Each process keeps what it read for `ttl` seconds (1 s), so checking a flag on the hot
path is a clock read and a dict lookup. Services only name where a fault applies
(`faults.sleep_for("catalog_latency_ms")`, `faults.chance("payment_failure_ratio", key)`).

Off by default and refused in production: there the store is never opened, every flag
reads 0 and setting one raises `FaultsRefused`. While a flag is on, every process that
reads it logs a warning (when it first sees it, then every 30 s) and reports its value in
the `fault_flag` gauge.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import diskcache  # type: ignore[import-untyped]
import redis
from prometheus_client import Gauge

from chassis.errors import Forbidden, NotFound, ServiceUnavailable, ValidationFailed
from chassis.logging import get_logger
from chassis.settings import ServiceSettings

log = get_logger("chassis.faults")

Kind = Literal["switch", "ratio", "milliseconds"]


@dataclass(frozen=True)
class Fault:
    """One named fault: what its value means and where it applies."""

    name: str
    kind: Kind
    description: str

    @property
    def maximum(self) -> float:
        """The largest value the flag takes."""
        return 60_000 if self.kind == "milliseconds" else 1

    def parse(self, raw: object) -> float:
        """The flag's value from what an operator typed (`on`, `0.3`, `30%`, `250`)."""
        text = str(raw).strip().lower()
        if self.kind == "switch":
            if isinstance(raw, bool):
                return float(raw)
            switches = {"on": 1.0, "true": 1.0, "1": 1.0, "1.0": 1.0}
            switches |= {"off": 0.0, "false": 0.0, "0": 0.0, "0.0": 0.0}
            if text in switches:
                return switches[text]
            raise InvalidFaultValue(f"{self.name} is on or off, not {raw!r}.")
        if isinstance(raw, bool):
            raise InvalidFaultValue(f"{self.name} takes a number, not {raw!r}.")
        try:
            value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
        except ValueError:
            raise InvalidFaultValue(f"{self.name} takes a number, not {raw!r}.") from None
        if not 0 <= value <= self.maximum:  # also refuses nan
            unit = " ms" if self.kind == "milliseconds" else ""
            raise InvalidFaultValue(
                f"{self.name} is between 0 and {self.maximum:g}{unit}, not {raw!r}."
            )
        return round(value) if self.kind == "milliseconds" else value


FAULTS: dict[str, Fault] = {
    fault.name: fault
    for fault in (
        Fault(
            "payment_latency_ms",
            "milliseconds",
            "Slow card network: added to every call payments makes to the card processor.",
        ),
        Fault(
            "payment_decline_ratio",
            "ratio",
            "Share of authorizations the card network declines (card_declined).",
        ),
        Fault(
            "payment_failure_ratio",
            "ratio",
            "Share of authorizations that fail at the card network through every retry.",
        ),
        Fault("catalog_latency_ms", "milliseconds", "Added to every request the catalog serves."),
        Fault(
            "events_paused",
            "switch",
            "Every events worker stops relaying its outbox and handling events.",
        ),
        Fault(
            "cache_unavailable",
            "switch",
            "The response caches cannot reach their store (Redis or the local folder).",
        ),
    )
}

FAULT_FLAG = Gauge(
    "fault_flag",
    "Value of each fault flag as this process last read it (0: off).",
    ["service", "fault"],
    multiprocess_mode="livemax",
)


class UnknownFault(NotFound):
    """No fault of that name."""

    slug, title = "unknown-fault", "Unknown fault"


class InvalidFaultValue(ValidationFailed):
    """The value does not fit the fault (out of range, not a number, not on/off)."""

    slug, title = "invalid-fault-value", "Invalid fault value"


class FaultsRefused(Forbidden):
    """Faults are never injected in production."""

    slug, title = "faults-refused", "Faults are refused in production"


class FaultStoreUnavailableProblem(ServiceUnavailable):
    """The flags' store could not be reached to read or change them."""

    slug, title = "fault-store-unavailable", "Fault flags unavailable"


def fault_named(name: str) -> Fault:
    """The fault called `name`; UnknownFault otherwise."""
    fault = FAULTS.get(name)
    if fault is None:
        raise UnknownFault(f"No fault named {name!r}; known: {', '.join(FAULTS)}.")
    return fault


# -- where the flags are kept --------------------------------------------------------------


class FaultStoreUnavailable(Exception):
    """The flags' store cannot be reached."""


class FaultStore(Protocol):
    """Where the flags are kept; every call may raise FaultStoreUnavailable."""

    def read(self) -> dict[str, float]:
        """Every flag that is on, by name."""

    def write(self, name: str, value: float) -> None:
        """Set one flag (0 turns it off)."""

    def clear(self) -> None:
        """Turn every flag off."""


class RedisFaultStore:
    """One Redis hash per platform namespace, field per flag."""

    def __init__(self, url: str, namespace: str, *, timeout: float = 0.25) -> None:
        self._redis = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._key = f"{namespace}:faults"

    def _call(self, operation: Callable[[redis.Redis], Any]) -> Any:
        try:
            return operation(self._redis)
        except redis.RedisError as exc:
            raise FaultStoreUnavailable(str(exc)) from exc

    def read(self) -> dict[str, float]:
        """HGETALL."""
        raw: Mapping[bytes, bytes] = self._call(lambda r: r.hgetall(self._key))
        return {k.decode(): float(v) for k, v in raw.items()}

    def write(self, name: str, value: float) -> None:
        """HSET, or HDEL for 0."""
        if value:
            self._call(lambda r: r.hset(self._key, name, repr(value)))
        else:
            self._call(lambda r: r.hdel(self._key, name))

    def clear(self) -> None:
        """DEL."""
        self._call(lambda r: r.delete(self._key))


class DiskFaultStore:
    """A diskcache folder every process of an embedded platform shares (no server)."""

    KEY = "flags"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._opened: Any = None
        self._lock = threading.Lock()

    def _call(self, operation: Callable[[Any], Any]) -> Any:
        try:
            with self._lock:
                if self._opened is None:
                    self.directory.mkdir(parents=True, exist_ok=True)
                    self._opened = diskcache.Cache(str(self.directory), timeout=0.25)
            return operation(self._opened)
        except (diskcache.Timeout, sqlite3.Error, OSError) as exc:
            raise FaultStoreUnavailable(str(exc)) from exc

    def read(self) -> dict[str, float]:
        """The stored JSON object of flags; none before the first is set."""
        if self._opened is None and not self.directory.exists():
            return {}  # a stat a second, and no folder created by processes that only read
        raw = self._call(lambda c: c.get(self.KEY))
        return {str(k): float(v) for k, v in json.loads(raw).items()} if raw else {}

    def write(self, name: str, value: float) -> None:
        """Read, change and store the flags in one diskcache transaction."""

        def change(cache: Any) -> None:
            with cache.transact():
                raw = cache.get(self.KEY)
                flags = json.loads(raw) if raw else {}
                if value:
                    flags[name] = value
                else:
                    flags.pop(name, None)
                cache.set(self.KEY, json.dumps(flags))

        self._call(change)

    def clear(self) -> None:
        """Forget every flag."""
        self._call(lambda c: c.delete(self.KEY))


def store_from_settings(settings: ServiceSettings) -> FaultStore | None:
    """Redis when configured, else a folder under the data dir; None in production."""
    if settings.env == "production":
        return None
    if settings.redis_url:
        return RedisFaultStore(settings.redis_url, settings.broker_namespace)
    return DiskFaultStore(settings.data_dir / "faults")


# -- what a process reads ------------------------------------------------------------------


class Faults:
    """The flags as one process sees them: re-read from the store at most every `ttl` s."""

    def __init__(
        self,
        store: FaultStore | None,
        *,
        service: str,
        ttl: float = 1.0,
        remind_every: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.service = service
        self.ttl = ttl
        self.remind_every = remind_every
        self._clock = clock
        self._flags: dict[str, float] = {}
        self._expires = float("-inf")
        self._reminded: dict[str, float] = {}
        self._refresh_lock = threading.Lock()
        self._store_was_down = False

    @property
    def enabled(self) -> bool:
        """False in production (and before `configure`): every flag reads 0."""
        return self.store is not None

    def value(self, name: str) -> float:
        """The flag's value, 0 when off; at most `ttl` seconds old."""
        if self.store is None:
            return 0.0
        if self._clock() >= self._expires:
            self.refresh()
        return self._flags.get(name, 0.0)

    def refresh_if_due(self) -> None:
        """Re-read the store when the last read is older than `ttl` (before a scrape)."""
        if self.store is not None and self._clock() >= self._expires:
            self.refresh()

    def refresh(self) -> None:
        """Read the store now (one thread at a time; the others keep the last read)."""
        if self.store is None or not self._refresh_lock.acquire(blocking=False):
            return
        try:
            try:
                flags = {k: v for k, v in self.store.read().items() if k in FAULTS and v}
            except FaultStoreUnavailable as exc:
                # A store that cannot be read injects nothing: faults are never sticky.
                if not self._store_was_down:
                    log.warning("fault flags unreadable; all off", error=str(exc))
                self._store_was_down, flags = True, {}
            else:
                self._store_was_down = False
            self._announce(flags)
            self._flags = flags
            self._expires = self._clock() + self.ttl
        finally:
            self._refresh_lock.release()

    def _announce(self, flags: dict[str, float]) -> None:
        now = self._clock()
        for name in FAULTS:
            value = flags.get(name, 0.0)
            FAULT_FLAG.labels(self.service, name).set(value)
            if not value:
                if name in self._flags:
                    log.info("fault off", fault=name)
                self._reminded.pop(name, None)
            elif now - self._reminded.get(name, float("-inf")) >= self.remind_every:
                log.warning("fault active", fault=name, value=value)
                self._reminded[name] = now

    def all(self) -> dict[str, float]:
        """Every known fault's value, read from the store now."""
        store = self._require_store()
        try:
            flags = store.read()
        except FaultStoreUnavailable as exc:
            raise FaultStoreUnavailableProblem(str(exc)) from exc
        return {name: flags.get(name, 0.0) for name in FAULTS}

    def set(self, name: str, raw: object, *, by: str = "") -> float:
        """Turn a fault on (or off with 0); the value as stored."""
        fault = fault_named(name)
        value = fault.parse(raw)
        store = self._require_store()
        try:
            store.write(name, value)
        except FaultStoreUnavailable as exc:
            raise FaultStoreUnavailableProblem(str(exc)) from exc
        if value:
            log.warning("fault set", fault=name, value=value, by=by or None)
        else:
            log.info("fault cleared", fault=name, by=by or None)
        self._expires = float("-inf")
        return value

    def clear(self, *, by: str = "") -> None:
        """Turn every fault off."""
        store = self._require_store()
        try:
            store.clear()
        except FaultStoreUnavailable as exc:
            raise FaultStoreUnavailableProblem(str(exc)) from exc
        log.info("faults cleared", by=by or None)
        self._expires = float("-inf")

    def _require_store(self) -> FaultStore:
        if self.store is None:
            raise FaultsRefused("Fault flags cannot be set or read in production.")
        return self.store


_current = Faults(None, service="")
_configure_lock = threading.Lock()


def configure(settings: ServiceSettings) -> Faults:
    """Point this process at the platform's flags (called once per app or worker)."""
    global _current
    with _configure_lock:
        _current = Faults(store_from_settings(settings), service=settings.service_name)
    return _current


def current() -> Faults:
    """This process's flags."""
    return _current


def value(name: str) -> float:
    """A flag's value in this process (0 when off)."""
    return _current.value(name)


def active(name: str) -> bool:
    """True while the flag is on."""
    return _current.value(name) != 0


def sleep_for(name: str) -> None:
    """Sleep for a milliseconds flag's value (nothing while it is off)."""
    delay = _current.value(name)
    if delay:
        time.sleep(delay / 1000)


def chance(name: str, key: str) -> bool:
    """True for a ratio flag's share of keys: the same key always gets the same answer.

    Deciding by key, not at random, lets a retried operation meet the same fault.
    """
    ratio = _current.value(name)
    if not ratio:
        return False
    digest = hashlib.blake2b(f"{name}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest) / 2**64 < ratio


def wait_while(name: str, stop: threading.Event, interval: float = 0.25) -> None:
    """Block while a switch flag is on, or until `stop` is set."""
    while active(name) and not stop.wait(interval):
        pass
