"""Revoked access tokens (logout): Redis when configured, a shared SQLite file otherwise.

Access tokens live 15 minutes; a logout must stop one everywhere within a second, so the
auth service records the token's `jti` until its `exp`, and every verifier consults it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Protocol

import redis

KEY_PREFIX = "bazaar:revoked:"


class RevocationUnavailable(Exception):
    """The revocation store cannot be reached."""


class RevocationList(Protocol):
    """Where revoked token ids are kept until the tokens would have expired anyway."""

    def revoke(self, jti: str, expires_at: int) -> None:
        """Record `jti` as revoked until the Unix time `expires_at`."""

    def is_revoked(self, jti: str) -> bool:
        """True when `jti` was revoked and has not expired yet."""


class RedisRevocationList:
    """Revocations in Redis, each key expiring with its token."""

    def __init__(self, url: str, *, timeout: float = 0.5) -> None:
        self._redis = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )

    def revoke(self, jti: str, expires_at: int) -> None:
        """Record `jti` until `expires_at`."""
        ttl = max(1, expires_at - int(time.time()))
        try:
            self._redis.set(KEY_PREFIX + jti, b"1", ex=ttl)
        except redis.RedisError as exc:
            raise RevocationUnavailable(str(exc)) from exc

    def is_revoked(self, jti: str) -> bool:
        """True when `jti` is recorded."""
        try:
            return bool(self._redis.exists(KEY_PREFIX + jti))
        except redis.RedisError as exc:
            raise RevocationUnavailable(str(exc)) from exc


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


def revocation_list(redis_url: str | None, data_dir: Path) -> RevocationList:
    """The revocation list for this deployment: Redis when configured, else a local file."""
    if redis_url:
        return RedisRevocationList(redis_url)
    return SqliteRevocationList(data_dir / "revocations.db")
