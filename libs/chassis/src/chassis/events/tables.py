"""The outbox and inbox tables each service that publishes or consumes events keeps.

They live in the service's own database, so an event is written, or recorded as handled,
in the same transaction as the change it belongs to.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from chassis.db import UTCDateTime

_METADATA = sa.MetaData()

# BIGINT on PostgreSQL; SQLite only auto-increments an INTEGER PRIMARY KEY.
_Position = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _outbox_columns() -> list[Any]:
    return [
        sa.Column("position", _Position, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=True),
    ]


def _inbox_columns() -> list[Any]:
    return [
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("handled_at", UTCDateTime(), nullable=False),
    ]


def _outbox_constraints() -> list[Any]:
    return [
        sa.PrimaryKeyConstraint("position", name="pk_outbox"),
        sa.UniqueConstraint("event_id", name="uq_outbox_event_id"),
    ]


OUTBOX = sa.Table(
    "outbox",
    _METADATA,
    *_outbox_columns(),
    *_outbox_constraints(),
    sa.Index("ix_outbox_pending", "published_at", "position"),
)
INBOX = sa.Table(
    "inbox", _METADATA, *_inbox_columns(), sa.PrimaryKeyConstraint("event_id", name="pk_inbox")
)


def add_event_tables(metadata: sa.MetaData) -> None:
    """Put the outbox and inbox into a service's metadata (its models module calls this)."""
    OUTBOX.to_metadata(metadata)
    INBOX.to_metadata(metadata)


def create_event_tables() -> None:
    """Create both tables; called from a service's Alembic migration."""
    from alembic import op

    op.create_table("outbox", *_outbox_columns(), *_outbox_constraints())
    op.create_index("ix_outbox_pending", "outbox", ["published_at", "position"])
    op.create_table(
        "inbox", *_inbox_columns(), sa.PrimaryKeyConstraint("event_id", name="pk_inbox")
    )


def drop_event_tables() -> None:
    """Drop both tables; the downgrade of `create_event_tables`."""
    from alembic import op

    op.drop_table("inbox")
    op.drop_index("ix_outbox_pending", table_name="outbox")
    op.drop_table("outbox")
