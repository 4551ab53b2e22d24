"""Idempotency keys for unsafe requests, after Stripe's: a retried POST never acts twice.

The first request with a key claims it (committed at once, so concurrent twins see the
claim), runs, and stores its response in the same transaction as its effects. A replay
gets the stored response with `Idempotent-Replayed: true`; the same key with another body
is a 422; the same key while the first is still running is a 409. Responses of 400 and
above are not stored, so a client can correct the request and retry with the same key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from flask import Response, make_response, request
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chassis.db import Database, UTCDateTime, utcnow
from chassis.errors import BadRequest, Conflict, ValidationFailed

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


def _claim(db: Database, scope: str, key: str, fingerprint: str, stale_after: float) -> Any:
    """Claim the key (None) or return the stored row of a finished twin; raise otherwise."""
    table = IDEMPOTENCY_KEYS
    now = utcnow()
    values = {
        "scope": scope,
        "key": key,
        "fingerprint": fingerprint,
        "state": "in_flight",
        "created_at": now,
        "locked_at": now,
    }
    with db.session() as session:
        if _insert_new(session, values):
            return None
        where = sa.and_(table.c.scope == scope, table.c.key == key)
        row = session.execute(sa.select(table).where(where)).one()
        if row.fingerprint != fingerprint:
            raise IdempotencyKeyReused(
                f"This {HEADER} was used for a different request; use a new key."
            )
        if row.state == "done":
            return row
        if row.locked_at < now - dt.timedelta(seconds=stale_after):
            # The first attempt died without an answer: let this one take over, once.
            taken = session.execute(
                sa.update(table)
                .where(where, table.c.state == "in_flight", table.c.locked_at == row.locked_at)
                .values(locked_at=now)
            )
            if taken.rowcount == 1:  # type: ignore[attr-defined]
                return None
        raise IdempotencyKeyInFlight(
            f"A request with this {HEADER} is still being processed; retry shortly.",
            headers={"Retry-After": "1"},
        )


def _insert_new(session: Session, values: dict[str, Any]) -> bool:
    """Insert the claim; False when the key is taken (a twin ran, or runs)."""
    table = IDEMPOTENCY_KEYS
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        # One statement instead of savepoint, insert, release, on every checkout.
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(table).values(**values)
        stmt = stmt.on_conflict_do_nothing(index_elements=["scope", "key"])
        return session.execute(stmt.returning(table.c.key)).first() is not None
    try:
        with session.begin_nested():
            session.execute(sa.insert(table).values(**values))
    except IntegrityError:
        return False
    return True


def _release(db: Database, scope: str, key: str) -> None:
    with db.session() as session:
        session.execute(
            sa.delete(IDEMPOTENCY_KEYS).where(
                IDEMPOTENCY_KEYS.c.scope == scope,
                IDEMPOTENCY_KEYS.c.key == key,
                IDEMPOTENCY_KEYS.c.state == "in_flight",
            )
        )


def idempotent(*, stale_after: float = 60.0) -> Callable[[F], F]:
    """Make a view safe to retry with an `Idempotency-Key` header (required).

    Place it under the auth decorators (keys are scoped per caller) and above
    `@bp.input` / `@bp.output`.
    """
    from chassis.flaskapp import current_principal, db_session, service

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            key = _valid_key(request.headers.get(HEADER))
            principal = current_principal()
            owner = principal.subject if principal is not None else "anonymous"
            scope = f"{owner}:{request.endpoint}"[:200]
            db = service().db
            stored = _claim(db, scope, key, _fingerprint(), stale_after)
            if stored is not None:
                return _replay(stored)
            try:
                response = make_response(view(*args, **kwargs))
            except BaseException:
                # Roll back first: on SQLite the request's write lock would block the release.
                db_session().rollback()
                _release(db, scope, key)
                raise
            if response.status_code >= 400:
                db_session().rollback()
                _release(db, scope, key)
                return response
            headers = {h: response.headers[h] for h in _KEPT_HEADERS if h in response.headers}
            db_session().execute(
                sa.update(IDEMPOTENCY_KEYS)
                .where(IDEMPOTENCY_KEYS.c.scope == scope, IDEMPOTENCY_KEYS.c.key == key)
                .values(
                    state="done",
                    status_code=response.status_code,
                    body=response.get_data(as_text=True),
                    headers=json.dumps(headers),
                )
            )
            return response

        spec = dict(getattr(wrapper, "_spec", None) or {})
        extensions = {**spec.get("extensions", {}), "x-idempotent": True}
        wrapper._spec = {**spec, "extensions": extensions}  # type: ignore[attr-defined]
        return cast(F, wrapper)

    return decorate
