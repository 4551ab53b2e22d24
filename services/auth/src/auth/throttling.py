"""Login throttling per account and per client IP: exponential delays after repeated failures.

After `after` consecutive failures a key is blocked for `base`, then `2 * base`, `4 * base`
... up to `max_delay`; blocked attempts are refused (429) before any password is checked.
A key is forgotten once quiet for `forget_after` seconds after both its last failure and
the end of its block (a block running out does not reset the count). Redis keeps the
counters when configured, else a database table. A configured Redis that cannot be
reached refuses the attempt (503): without counters, guessing would be unlimited.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import redis
from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from auth.models import ThrottleCounter
from chassis.db import Database
from chassis.errors import ProblemError, ServiceUnavailable
from chassis.logging import get_logger
from chassis.metrics import DEGRADED

REDIS_PREFIX = "bazaar:auth:throttle:"
log = get_logger("auth.throttling")

# Record one failure; returns the failure count. KEYS[1] = counter; ARGV = now, after,
# base, max delay, forget-after. Atomic, so concurrent failures each count. A counter
# quiet for forget-after since its last failure or the end of its block starts over.
_RECORD_FAILURE = """
local now = tonumber(ARGV[1])
local state = redis.call('HMGET', KEYS[1], 'last_failure', 'blocked_until')
local quiet_since = math.max(tonumber(state[1] or '0'), tonumber(state[2] or '0'))
local failures
if quiet_since > 0 and now - quiet_since > tonumber(ARGV[5]) then
  failures = 1
  redis.call('HSET', KEYS[1], 'failures', 1)
  redis.call('HDEL', KEYS[1], 'blocked_until')
else
  failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
end
redis.call('HSET', KEYS[1], 'last_failure', ARGV[1])
local delay = 0
if failures >= tonumber(ARGV[2]) then
  delay = math.min(tonumber(ARGV[3]) * 2 ^ (failures - tonumber(ARGV[2])), tonumber(ARGV[4]))
  redis.call('HSET', KEYS[1], 'blocked_until', tostring(now + delay))
end
redis.call('EXPIRE', KEYS[1], math.ceil(delay + tonumber(ARGV[5])))
return failures
"""


class TooManyAttempts(ProblemError):
    """Too many consecutive failures: wait `Retry-After` seconds."""

    status, slug, title = 429, "too-many-attempts", "Too many attempts"

    def __init__(self, retry_after: float) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(
            f"Too many failed attempts; try again in {seconds} s.",
            extra={"retry_after": seconds},
            headers={"Retry-After": str(seconds)},
        )


class ThrottleUnavailable(ServiceUnavailable):
    """The throttle's store cannot be reached, so attempts are refused."""


@dataclass(frozen=True)
class ThrottlePolicy:
    """When and for how long a key is blocked."""

    after: int = 5
    base_delay: float = 1.0
    max_delay: float = 900.0
    forget_after: float = 900.0

    def delay_after(self, failures: int) -> float:
        """Seconds a key is blocked after its `failures`-th consecutive failure."""
        if failures < self.after:
            return 0.0
        return float(min(self.base_delay * 2 ** (failures - self.after), self.max_delay))


class ThrottleStore(Protocol):
    """Where failure counters live."""

    def blocked_for(self, keys: Sequence[str]) -> float:
        """Seconds until every one of `keys` may try again (0 when none is blocked)."""

    def record_failure(self, keys: Sequence[str]) -> None:
        """Count one more failure for each key."""

    def reset(self, key: str, session: Session | None = None) -> None:
        """Forget a key's failures (in `session`'s transaction, when the store uses one)."""


class RedisThrottleStore:
    """Counters in Redis hashes that expire on their own."""

    def __init__(
        self, url: str, policy: ThrottlePolicy, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._policy = policy
        self._clock = clock
        self._record = self._redis.register_script(_RECORD_FAILURE)

    def blocked_for(self, keys: Sequence[str]) -> float:
        """Seconds until every key may try again."""
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.hget(REDIS_PREFIX + key, "blocked_until")
                values = pipe.execute()
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc
        now = self._clock()
        return max([0.0, *(float(v) - now for v in values if v is not None)])

    def record_failure(self, keys: Sequence[str]) -> None:
        """Count a failure for each key, atomically."""
        p = self._policy
        try:
            for key in keys:
                self._record(
                    keys=[REDIS_PREFIX + key],
                    args=[self._clock(), p.after, p.base_delay, p.max_delay, p.forget_after],
                )
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc

    def reset(self, key: str, session: Session | None = None) -> None:
        """Forget a key."""
        try:
            self._redis.delete(REDIS_PREFIX + key)
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc

    def close(self) -> None:
        """Close the connection pool."""
        self._redis.close()


class DatabaseThrottleStore:
    """Counters in the `throttle_counters` table, each change committed on its own.

    Its own transactions: a failed login answers 400 and the request's transaction is
    rolled back, but the failure must still count.
    """

    def __init__(
        self, db: Database, policy: ThrottlePolicy, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._db = db
        self._policy = policy
        self._clock = clock

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self._clock(), dt.UTC)

    def blocked_for(self, keys: Sequence[str]) -> float:
        """Seconds until every key may try again."""
        now = self._now()
        try:
            with self._db.session() as session:
                until = session.scalar(
                    select(func.max(ThrottleCounter.blocked_until)).where(
                        ThrottleCounter.key.in_(keys), ThrottleCounter.blocked_until > now
                    )
                )
        except SQLAlchemyError as exc:
            raise _unavailable(exc) from exc
        if until is None:
            return 0.0
        if until.tzinfo is None:  # an aggregate skips the column type on SQLite
            until = dt.datetime.fromisoformat(str(until)).replace(tzinfo=dt.UTC)
        return max(0.0, (until - now).total_seconds())

    def record_failure(self, keys: Sequence[str]) -> None:
        """Count a failure for each key; a key quiet for `forget_after` starts again at 1."""
        now = self._now()
        stale = now - dt.timedelta(seconds=self._policy.forget_after)
        try:
            with self._db.session() as session:
                postgres = session.get_bind().dialect.name == "postgresql"
                insert = postgresql.insert if postgres else sqlite.insert
                for key in keys:
                    values = insert(ThrottleCounter).values(
                        key=key, failures=1, last_failure_at=now, blocked_until=None
                    )
                    upsert = values.on_conflict_do_update(
                        index_elements=[ThrottleCounter.key],
                        set_={
                            # Quiet since the last failure and the end of its block.
                            "failures": case(
                                (
                                    and_(
                                        ThrottleCounter.last_failure_at < stale,
                                        or_(
                                            ThrottleCounter.blocked_until.is_(None),
                                            ThrottleCounter.blocked_until < stale,
                                        ),
                                    ),
                                    1,
                                ),
                                else_=ThrottleCounter.failures + 1,
                            ),
                            "last_failure_at": now,
                        },
                    ).returning(ThrottleCounter.failures)
                    failures = int(session.execute(upsert).scalar_one())
                    delay = self._policy.delay_after(failures)
                    if delay:
                        session.execute(
                            update(ThrottleCounter)
                            .where(ThrottleCounter.key == key)
                            .values(blocked_until=now + dt.timedelta(seconds=delay))
                        )
                self._forget_old(session, now)
        except SQLAlchemyError as exc:
            raise _unavailable(exc) from exc

    def reset(self, key: str, session: Session | None = None) -> None:
        """Forget a key; inside `session` when given (a sign-in's own transaction).

        On SQLite a second transaction of its own would wait for the sign-in's write lock,
        which its own thread holds.
        """
        statement = delete(ThrottleCounter).where(ThrottleCounter.key == key)
        try:
            if session is not None:
                session.execute(statement)
                return
            with self._db.session() as own:
                own.execute(statement)
        except SQLAlchemyError as exc:
            raise _unavailable(exc) from exc

    def _forget_old(self, session: Session, now: dt.datetime) -> None:
        # Every unknown email tried leaves a row; rows past any possible delay go.
        horizon = now - dt.timedelta(seconds=self._policy.forget_after + self._policy.max_delay)
        session.execute(delete(ThrottleCounter).where(ThrottleCounter.last_failure_at < horizon))


def _unavailable(exc: Exception) -> ThrottleUnavailable:
    log.error("login throttle unavailable", error=type(exc).__name__)
    DEGRADED.labels("auth", "login-throttle").inc()
    return ThrottleUnavailable("Sign-in is unavailable right now; try again shortly.")


def account_key(email: str) -> str:
    """The counter of one account (the email hashed: no addresses in Redis keys)."""
    return "account:" + hashlib.sha256(email.encode()).hexdigest()


def ip_key(address: str) -> str:
    """The counter of one client IP."""
    return "ip:" + address[:64]


class LoginThrottle:
    """Counts consecutive failures per account and per client IP, and refuses blocked ones."""

    def __init__(self, store: ThrottleStore) -> None:
        self.store = store

    def check(self, *, ip: str, email: str | None = None) -> None:
        """Raise 429 while the account or the IP is blocked."""
        keys = [ip_key(ip)] + ([account_key(email)] if email else [])
        wait = self.store.blocked_for(keys)
        if wait > 0:
            raise TooManyAttempts(wait)

    def failed(self, *, ip: str, email: str | None = None) -> None:
        """Count a failure for the IP and (when given) the account."""
        self.store.record_failure([ip_key(ip)] + ([account_key(email)] if email else []))

    def succeeded(self, *, email: str, session: Session | None = None) -> None:
        """The account's owner got in: its count starts over.

        The IP's count does not: an attacker could otherwise clear it between guesses by
        signing in to an account of their own.
        """
        self.store.reset(account_key(email), session)
