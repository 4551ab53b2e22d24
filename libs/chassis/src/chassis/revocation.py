"""Revoked access tokens (logout): Redis when configured, a shared SQLite file otherwise.

Access tokens live 15 minutes; a logout must stop one everywhere within a second, so the
auth service records the token's `jti` until its `exp`, and every verifier consults it.

Auth keeps every revocation in its own database too; Redis is the fast path. Redis keeps
nothing on disk, so auth writes a marker key whenever it has filled the list from its
database: a Redis without the marker has lost its data, and a verifier that finds it missing
treats the list as unknown (503, or a refill where the database is at hand), never as
"nothing revoked".
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

import redis

KEY_PREFIX = "bazaar:revoked:"
# Outside KEY_PREFIX, so no token id can ever name it.
FILLED_KEY = "bazaar:revocations:filled"


class RevocationUnavailable(Exception):
    """The revocation store cannot be reached."""


class RevocationListLost(RevocationUnavailable):
    """The store answers but lost its data (no marker): which tokens are revoked is unknown."""


class RevocationList(Protocol):
    """Where revoked token ids are kept until the tokens would have expired anyway."""

    def revoke(self, jti: str, expires_at: int) -> None:
        """Record `jti` as revoked until the Unix time `expires_at`."""

    def is_revoked(self, jti: str) -> bool:
        """True when `jti` was revoked and has not expired yet."""


class RedisRevocationList:
    """Revocations in Redis, each key expiring with its token, trusted only under the marker.

    `refill`, where given (auth, which holds the durable list), is called when the marker is
    missing and must put every live revocation back through `fill`; without it a missing
    marker raises RevocationListLost.
    """

    def __init__(
        self, url: str, *, timeout: float = 0.5, refill: Callable[[], None] | None = None
    ) -> None:
        self._redis = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._refill = refill

    def revoke(self, jti: str, expires_at: int) -> None:
        """Record `jti` until `expires_at`."""
        ttl = max(1, expires_at - int(time.time()))
        try:
            self._redis.set(KEY_PREFIX + jti, b"1", ex=ttl)
        except redis.RedisError as exc:
            raise RevocationUnavailable(str(exc)) from exc

    def is_revoked(self, jti: str) -> bool:
        """True when `jti` is recorded; RevocationListLost when Redis lost the list."""
        try:
            return self._lookup(jti)
        except RevocationListLost:
            if self._refill is None:
                raise
            self._refill()
            return self._lookup(jti)

    def _lookup(self, jti: str) -> bool:
        try:
            pipeline = self._redis.pipeline(transaction=False)
            pipeline.exists(FILLED_KEY)
            pipeline.exists(KEY_PREFIX + jti)
            filled, revoked = pipeline.execute()
        except redis.RedisError as exc:
            raise RevocationUnavailable(str(exc)) from exc
        if not filled:
            raise RevocationListLost("the revocation list is not filled (Redis lost its data)")
        return bool(revoked)

    def is_filled(self) -> bool:
        """Whether the marker is there (the list was filled since Redis last lost its data)."""
        try:
            return bool(self._redis.exists(FILLED_KEY))
        except redis.RedisError as exc:
            raise RevocationUnavailable(str(exc)) from exc

    def fill(self, revocations: Iterable[tuple[str, int]]) -> None:
        """Record every `(jti, expires_at)`, then set the marker that makes the list trusted."""
        now = int(time.time())
        try:
            pipeline = self._redis.pipeline(transaction=False)
            for jti, expires_at in revocations:
                if expires_at > now:
                    pipeline.set(KEY_PREFIX + jti, b"1", ex=expires_at - now)
            pipeline.set(FILLED_KEY, str(now).encode())
            pipeline.execute()
        except redis.RedisError as exc:
            raise RevocationUnavailable(str(exc)) from exc

    def close(self) -> None:
        """Close the connection pool."""
        self._redis.close()


class SqliteRevocationList:
    """Revocations in one SQLite file under the data folder, shared by every local process."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = str(path)
        self._local = threading.local()
        with self._connect() as connection:
            connection.execute(
                "CREATE TABLE IF NOT EXISTS revoked (jti TEXT PRIMARY KEY, expires_at INTEGER)"
            )

    def _connect(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self._path, timeout=5, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            self._local.connection = connection
        return connection

    def revoke(self, jti: str, expires_at: int) -> None:
        """Record `jti` until `expires_at`, and forget expired ones."""
        connection = self._connect()
        connection.execute(
            "INSERT OR REPLACE INTO revoked (jti, expires_at) VALUES (?, ?)", (jti, expires_at)
        )
        connection.execute("DELETE FROM revoked WHERE expires_at < ?", (int(time.time()),))

    def is_revoked(self, jti: str) -> bool:
        """True when `jti` is recorded and not expired."""
        row = (
            self._connect()
            .execute(
                "SELECT 1 FROM revoked WHERE jti = ? AND expires_at >= ?", (jti, int(time.time()))
            )
            .fetchone()
        )
        return row is not None


def revocation_list(
    redis_url: str | None, data_dir: Path, *, refill: Callable[[], None] | None = None
) -> RevocationList:
    """The revocation list for this deployment: Redis when configured, else a local file."""
    if redis_url:
        return RedisRevocationList(redis_url, refill=refill)
    return SqliteRevocationList(data_dir / "revocations.db")
