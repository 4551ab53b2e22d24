"""Auth's revocation list: durable in its database, published to the shared store for speed.

Every verifier reads the shared store (Redis, or the local SQLite file); Redis keeps nothing
on disk, so auth refills it from the `revoked_tokens` table whenever its marker is missing:
at start, on the first check that finds it missing, and from a watcher thread that looks
once a second, so other services answer 503 (not "nothing revoked") for about a second at
most after Redis lost its data.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from auth.models import RevokedToken
from chassis.db import Database
from chassis.logging import get_logger
from chassis.revocation import (
    RedisRevocationList,
    RevocationList,
    RevocationUnavailable,
    revocation_list,
)

log = get_logger("auth.revocations")


class DurableRevocations:
    """The shared store as the fast path, `revoked_tokens` as the truth it is refilled from."""

    def __init__(
        self, db: Database, redis_url: str | None, data_dir: Path, *, watch_seconds: float = 1.0
    ) -> None:
        self._db = db
        self.fast: RevocationList = revocation_list(redis_url, data_dir, refill=self.refill)
        self._watch_seconds = watch_seconds
        self._refilling = threading.Lock()
        self._stop = threading.Event()
        self._watcher_pid: int | None = None

    def record(self, session: Session, jti: str, expires_at: int) -> None:
        """Add the durable row in the caller's transaction, and forget expired ones."""
        if session.get(RevokedToken, jti) is None:
            session.add(RevokedToken(jti=jti, expires_at=expires_at))
        session.execute(delete(RevokedToken).where(RevokedToken.expires_at < int(time.time())))
        session.flush()

    def revoke(self, jti: str, expires_at: int) -> None:
        """Publish a revocation already recorded (and committed) to the shared store."""
        self.fast.revoke(jti, expires_at)

    def is_revoked(self, jti: str) -> bool:
        """Ask the shared store (refilling it first when it lost its data)."""
        return self.fast.is_revoked(jti)

    def refill(self) -> None:
        """Put every live revocation back into Redis and mark the list filled."""
        if not isinstance(self.fast, RedisRevocationList):
            return  # the local file is durable itself
        with self._refilling:
            if self.fast.is_filled():
                return  # another thread of this process has just done it
            # A connection of its own, not the request's session: this also runs on the
            # watcher thread, and the read must see what other processes committed.
            with self._db.engine.connect() as connection:
                rows = connection.execute(
                    select(RevokedToken.jti, RevokedToken.expires_at).where(
                        RevokedToken.expires_at > int(time.time())
                    )
                ).all()
            self.fast.fill((str(jti), int(expires_at)) for jti, expires_at in rows)
            log.warning("revocation list refilled from the database", revocations=len(rows))

    def refill_quietly(self) -> None:
        """Refill when the marker is missing; an unreachable store or database is retried later."""
        if not isinstance(self.fast, RedisRevocationList):
            return
        try:
            if not self.fast.is_filled():
                self.refill()
        except RevocationUnavailable as exc:
            log.info("revocation list not checked; the store is unreachable", error=str(exc))
        except Exception as exc:  # the database: the next round tries again
            log.warning("revocation list not refilled", error=str(exc))

    def watch(self) -> None:
        """Start this process's watcher thread (once per process: a fork starts its own)."""
        if not isinstance(self.fast, RedisRevocationList) or self._watcher_pid == os.getpid():
            return
        with self._refilling:
            if self._watcher_pid == os.getpid():
                return
            self._watcher_pid = os.getpid()
            thread = threading.Thread(target=self._watch, name="revocation-watcher", daemon=True)
            thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(self._watch_seconds):
            self.refill_quietly()

    def close(self) -> None:
        """Stop the watcher and release the store's connections."""
        self._stop.set()
        if isinstance(self.fast, RedisRevocationList):
            self.fast.close()
