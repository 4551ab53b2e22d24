"""Carts, orders with their items and history, the event outbox/inbox, idempotency keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
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

STATUSES = "'PENDING', 'CONFIRMED', 'CANCELLED', 'SHIPPED', 'DELIVERED'"


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "carts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("customer_id", sa.String(64), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_carts"),
        sa.UniqueConstraint("customer_id", name="uq_carts_customer_id"),
    )
    op.create_table(
        "cart_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "cart_id",
            sa.Integer(),
            sa.ForeignKey("carts.id", name="fk_cart_items_cart_id_carts", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("unit_price_amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_cart_items"),
        sa.UniqueConstraint("cart_id", "product_id", name="uq_cart_items_cart_id_product_id"),
        sa.CheckConstraint("quantity BETWEEN 1 AND 99", name="ck_cart_items_quantity_in_range"),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.String(28), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("subtotal_amount", sa.BigInteger(), nullable=False),
        sa.Column("total_amount", sa.BigInteger(), nullable=False),
        sa.Column("shipping_address", sa.JSON(), nullable=False),
        sa.Column("payment_method_id", sa.String(64), nullable=False),
        sa.Column("cancel_reason", sa.String(500), nullable=True),
        sa.Column("stock_reserved_at", UTCDateTime(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_orders"),
        sa.CheckConstraint(f"status IN ({STATUSES})", name="ck_orders_status_known"),
        sa.CheckConstraint(
            "subtotal_amount >= 0 AND total_amount >= 0", name="ck_orders_totals_not_negative"
        ),
    )
    op.create_index("ix_orders_customer_newest", "orders", ["customer_id", "created_at", "id"])
    op.create_index("ix_orders_newest", "orders", ["created_at", "id"])
    op.create_index("ix_orders_status_created", "orders", ["status", "created_at"])
    op.create_table(
        "order_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "order_id",
            sa.String(28),
            sa.ForeignKey("orders.id", name="fk_order_items_order_id_orders", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("unit_price_amount", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("line_total_amount", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_order_items"),
        sa.CheckConstraint("quantity BETWEEN 1 AND 99", name="ck_order_items_quantity_in_range"),
    )
    op.create_index("ix_order_items_order_id", "order_items", ["order_id"])
    op.create_table(
        "order_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "order_id",
            sa.String(28),
            sa.ForeignKey("orders.id", name="fk_order_history_order_id_orders", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_order_history"),
    )
    op.create_index("ix_order_history_order_id", "order_history", ["order_id"])
    create_event_tables()
    create_idempotency_table()


def downgrade() -> None:
    drop_idempotency_table()
    drop_event_tables()
    op.drop_index("ix_order_history_order_id", table_name="order_history")
    op.drop_table("order_history")
    op.drop_index("ix_order_items_order_id", table_name="order_items")
    op.drop_table("order_items")
    op.drop_index("ix_orders_status_created", table_name="orders")
    op.drop_index("ix_orders_newest", table_name="orders")
    op.drop_index("ix_orders_customer_newest", table_name="orders")
    op.drop_table("orders")
    op.drop_table("cart_items")
    op.drop_table("carts")
