"""Payment methods, payments, the append-only ledger, tombstones, events and idempotency keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chassis.db import UTCDateTime
from chassis.events import create_event_tables, drop_event_tables
from chassis.idempotency import create_idempotency_table, drop_idempotency_table

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAYMENT_STATUSES = (
    "'authorized', 'declined', 'captured', 'voided', 'refunded', 'partially_refunded'"
)
LEDGER_KINDS = "'authorize', 'decline', 'capture', 'void', 'refund'"

# The ledger is append-only in the database itself, not only by the code's good manners.
POSTGRES_APPEND_ONLY = [
    """
    CREATE FUNCTION ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'ledger_entries is append-only: % is not allowed', TG_OP;
    END;
    $$
    """,
    """
    CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only()
    """,
    """
    CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_append_only()
    """,
]
SQLITE_APPEND_ONLY = [
    f"""
    CREATE TRIGGER ledger_entries_no_{operation.lower()} BEFORE {operation} ON ledger_entries
    BEGIN
        SELECT RAISE(ABORT, 'ledger_entries is append-only: {operation} is not allowed');
    END
    """
    for operation in ("UPDATE", "DELETE")
]


def upgrade() -> None:
    op.create_table(
        "payment_methods",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("processor_token", sa.String(200), nullable=False),
        sa.Column("brand", sa.String(16), nullable=False),
        sa.Column("last4", sa.String(4), nullable=False),
        sa.Column("exp_month", sa.Integer(), nullable=False),
        sa.Column("exp_year", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_payment_methods_customer", "payment_methods", ["customer_id", "created_at"])
    op.create_table(
        "payments",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("payment_method_id", sa.String(32), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("captured_amount", sa.Integer(), nullable=False),
        sa.Column("refunded_amount", sa.Integer(), nullable=False),
        sa.Column("brand", sa.String(16), nullable=False),
        sa.Column("last4", sa.String(4), nullable=False),
        sa.Column("authorization_reference", sa.String(200), nullable=True),
        sa.Column("decline_code", sa.String(40), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("order_id", name="uq_payments_order_id"),
        sa.CheckConstraint(f"status IN ({PAYMENT_STATUSES})", name="ck_payments_status_known"),
        sa.CheckConstraint("amount >= 0", name="ck_payments_amount_not_negative"),
        sa.CheckConstraint(
            "captured_amount >= 0 AND captured_amount <= amount",
            name="ck_payments_captured_within_amount",
        ),
        sa.CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= captured_amount",
            name="ck_payments_refunded_within_captured",
        ),
    )
    op.create_index("ix_payments_customer", "payments", ["customer_id", "created_at"])
    op.create_table(
        "ledger_entries",
        sa.Column("position", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column(
            "payment_id",
            sa.String(32),
            sa.ForeignKey("payments.id", name="fk_ledger_entries_payment_id_payments"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("operation_key", sa.String(200), nullable=False),
        sa.Column("processor_reference", sa.String(200), nullable=True),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("id", name="uq_ledger_entries_id"),
        sa.UniqueConstraint("operation_key", name="uq_ledger_entries_operation_key"),
        sa.CheckConstraint(f"kind IN ({LEDGER_KINDS})", name="ck_ledger_entries_kind_known"),
        sa.CheckConstraint("amount >= 0", name="ck_ledger_entries_amount_not_negative"),
    )
    op.create_index("ix_ledger_entries_payment_id", "ledger_entries", ["payment_id"])
    op.create_table(
        "cancelled_orders",
        sa.Column("order_id", sa.String(64), primary_key=True),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    dialect = op.get_bind().dialect.name
    for statement in POSTGRES_APPEND_ONLY if dialect == "postgresql" else SQLITE_APPEND_ONLY:
        op.execute(statement)
    create_event_tables()
    create_idempotency_table()


def downgrade() -> None:
    drop_idempotency_table()
    drop_event_tables()
    op.drop_table("cancelled_orders")
    # Dropping the table drops its triggers; the PostgreSQL function outlives it.
    op.drop_table("ledger_entries")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION ledger_entries_append_only()")
    op.drop_table("payments")
    op.drop_table("payment_methods")
