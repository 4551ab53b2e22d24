"""Idempotency keys for unsafe requests, after Stripe's: a retried POST never acts twice.

The first request with a key claims it, runs, and stores its response in the same
transaction as its effects. A replay gets the stored response with `Idempotent-Replayed:
true`; the same key with another body is a 422; the same key while the first is still
running is a 409. Responses of 400 and above are not stored, so a client can correct the
request and retry with the same key.

A claim is a lock held by the live request, never a row with a lease (ADR 0016): on
PostgreSQL a transaction-level advisory lock taken in the request's own transaction, on
SQLite a byte-range lock on a file beside the database. Whatever ends the request (an
answer, an exception, a rollback that fails on a dead connection, the process being killed,
the database restarting) ends the lock, and a retry takes the key over at once.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from flask import Response, make_response, request
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from chassis.db import Database, UTCDateTime, utcnow
from chassis.errors import BadRequest, Conflict, ValidationFailed
from chassis.flaskapp import after_session, current_principal, db_session, service

F = TypeVar("F", bound=Callable[..., Any])

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
# Response headers worth replaying; the rest (request id, dates) belong to each answer.
_KEPT_HEADERS = ("Content-Type", "Location")
_METADATA = sa.MetaData()


class IdempotencyKeyMissing(BadRequest):
    """The endpoint needs an `Idempotency-Key` header."""

    slug, title = "idempotency-key-missing", "Idempotency-Key header required"


class IdempotencyKeyInvalid(BadRequest):
    """The key is empty, too long or not printable ASCII."""

    slug, title = "idempotency-key-invalid", "Invalid Idempotency-Key"


class IdempotencyKeyReused(ValidationFailed):
    """The key was used before for a different request."""

    slug, title = "idempotency-key-reused", "Idempotency-Key reused with another request"


class IdempotencyKeyInFlight(Conflict):
    """A request with this key is still being processed."""

    slug, title = "idempotency-key-in-flight", "A request with this Idempotency-Key is running"


def _columns() -> list[Any]:
    return [
        sa.Column("scope", sa.String(200), nullable=False),
        sa.Column("key", sa.String(MAX_KEY_LENGTH), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("headers", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("locked_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name="pk_idempotency_keys"),
    ]


IDEMPOTENCY_KEYS = sa.Table("idempotency_keys", _METADATA, *_columns())


def add_idempotency_table(metadata: sa.MetaData) -> None:
    """Put the idempotency table into a service's metadata."""
    IDEMPOTENCY_KEYS.to_metadata(metadata)


def create_idempotency_table() -> None:
    """Create the table; called from a service's Alembic migration."""
    from alembic import op

    op.create_table("idempotency_keys", *_columns())


def drop_idempotency_table() -> None:
    """Drop the table; the downgrade of `create_idempotency_table`."""
    from alembic import op

    op.drop_table("idempotency_keys")


def _fingerprint() -> str:
    raw = request.get_data(cache=True)
    try:
        # Whitespace and key order do not make a JSON body a different request.
        body = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        body = raw
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode() + body)
    return digest.hexdigest()


def _valid_key(key: str | None) -> str:
    if key is None:
        raise IdempotencyKeyMissing(f"Send an {HEADER} header (a UUID, say) with this request.")
    if not 0 < len(key) <= MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise IdempotencyKeyInvalid(
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters."
        )
    return key


def _replay(row: Any) -> Response:
    headers = json.loads(row.headers or "{}")
    response = Response(row.body or "", status=row.status_code, headers=headers)
    response.headers[REPLAYED_HEADER] = "true"
    return response


def _lock_id(scope: str, key: str) -> int:
    """A signed 64-bit number naming the claim (what PostgreSQL's advisory locks take)."""
    digest = hashlib.sha256(f"{scope}\n{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class _FileClaims:
    """Claims on SQLite, held across processes: one byte of a lock file per claim.

    POSIX record locks belong to a process (the kernel drops them when it dies) and every
    thread shares them, so threads are told apart by the set of claims held here. The file
    is never closed: closing any descriptor of it would drop all of this process's locks.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self._held: set[int] = set()
        self._lock = threading.Lock()

    def take(self, lock_id: int) -> bool:
        """Claim `lock_id` unless a live request, here or in another process, holds it."""
        offset = lock_id & _OFFSET_MASK
        with self._lock:
            if offset in self._held:
                return False
            try:
                fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
            except OSError as exc:
                if exc.errno in (errno.EACCES, errno.EAGAIN):
                    return False
                raise
            self._held.add(offset)
            return True

    def release(self, lock_id: int) -> None:
        """Give the claim back."""
        offset = lock_id & _OFFSET_MASK
        with self._lock:
            if offset in self._held:
                fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, offset)
                self._held.discard(offset)


# Byte offsets must be non-negative off_t values; 62 bits keep collisions out of reach.
_OFFSET_MASK = (1 << 62) - 1
_file_claims: dict[tuple[int, str], _FileClaims] = {}
_file_claims_lock = threading.Lock()


def _claims_file(db: Database) -> _FileClaims:
    """This process's claims for `db` (a forked child gets its own: locks are per process)."""
    database = make_url(db.url).database or ""
    path = (
        Path(database + ".claims")
        if database not in ("", ":memory:")
        else Path(tempfile.gettempdir()) / f"bazaar-claims-{os.getpid()}-{id(db)}"
    )
    slot = (os.getpid(), str(path))
    with _file_claims_lock:
        claims = _file_claims.get(slot)
        if claims is None:
            claims = _file_claims[slot] = _FileClaims(path)
        return claims


def _take(db: Database, session: Session, lock_id: int) -> Callable[[], None] | None:
    """Claim the key for this request; a release to run after its session ends, or None.

    On PostgreSQL the lock lives in the request's transaction, so its commit or rollback,
    or the connection dying, releases it: the release returned does nothing.
    """
    if db.dialect == "postgresql":
        taken = session.execute(sa.select(sa.func.pg_try_advisory_xact_lock(lock_id))).scalar_one()
        return _nothing if taken else None
    claims = _claims_file(db)
    if not claims.take(lock_id):
        return None
    return functools.partial(claims.release, lock_id)


def _nothing() -> None:
    """The release of a claim that ends with its transaction."""


def _stored(session: Session, scope: str, key: str) -> Any:
    """The finished twin's row, if there is one."""
    table = IDEMPOTENCY_KEYS
    return session.execute(
        sa.select(table).where(table.c.scope == scope, table.c.key == key, table.c.state == "done")
    ).first()


def _claim(db: Database, session: Session, scope: str, key: str, fingerprint: str) -> Any:
    """Claim the key (None) or return the stored row of a finished twin; raise otherwise."""
    release = _take(db, session, _lock_id(scope, key))
    if release is not None:
        # Released only once the request's session has committed its answer, or rolled back.
        after_session(release)
        # Read after the lock: a twin that held it has committed by now, its row is visible.
        row = _stored(session, scope, key)
    else:
        # A live twin holds the key; it may have answered already. A plain read, so SQLite's
        # write lock (the twin's) is not waited for.
        with db.session_factory() as reader:
            row = _stored(reader, scope, key)
    if row is not None:
        if row.fingerprint != fingerprint:
            raise IdempotencyKeyReused(
                f"This {HEADER} was used for a different request; use a new key."
            )
        return row
    if release is None:
        raise IdempotencyKeyInFlight(
            f"A request with this {HEADER} is still being processed; retry shortly.",
            headers={"Retry-After": "1"},
        )
    return None


def _store(session: Session, values: dict[str, Any]) -> None:
    """Store the answer; a row left `in_flight` by an older release is overwritten."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(IDEMPOTENCY_KEYS).values(**values)
    updated = {name: stmt.excluded[name] for name in values if name not in ("scope", "key")}
    session.execute(stmt.on_conflict_do_update(index_elements=["scope", "key"], set_=updated))


def idempotent() -> Callable[[F], F]:
    """Make a view safe to retry with an `Idempotency-Key` header (required).

    Place it under the auth decorators (keys are scoped per caller) and above
    `@bp.input` / `@bp.output`.
    """

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            key = _valid_key(request.headers.get(HEADER))
            principal = current_principal()
            owner = principal.subject if principal is not None else "anonymous"
            scope = f"{owner}:{request.endpoint}"[:200]
            fingerprint = _fingerprint()
            session = db_session()
            stored = _claim(service().db, session, scope, key, fingerprint)
            if stored is not None:
                return _replay(stored)
            # On an exception or an error answer the chassis rolls the session back, which
            # stores nothing, and the claim ends with it.
            response = make_response(view(*args, **kwargs))
            if response.status_code >= 400:
                return response
            now = utcnow()
            headers = {h: response.headers[h] for h in _KEPT_HEADERS if h in response.headers}
            _store(
                session,
                {
                    "scope": scope,
                    "key": key,
                    "fingerprint": fingerprint,
                    "state": "done",
                    "status_code": response.status_code,
                    "body": response.get_data(as_text=True),
                    "headers": json.dumps(headers),
                    "created_at": now,
                    "locked_at": now,
                },
            )
            return response

        spec = dict(getattr(wrapper, "_spec", None) or {})
        extensions = {**spec.get("extensions", {}), "x-idempotent": True}
        wrapper._spec = {**spec, "extensions": extensions}  # type: ignore[attr-defined]
        return cast(F, wrapper)

    return decorate
