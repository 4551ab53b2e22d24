"""Stock reservations per order, and the outbox and inbox of the event backbone.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chassis.db import UTCDateTime
from chassis.events import create_event_tables, drop_event_tables

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reservations",
        sa.Column("order_id", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('reserved', 'rejected', 'released', 'cancelled')",
            name="ck_reservations_status_known",
        ),
    )
    op.create_table(
        "reservation_items",
        sa.Column(
            "order_id",
            sa.String(64),
            sa.ForeignKey(
                "reservations.order_id",
                name="fk_reservation_items_order_id_reservations",
                ondelete="CASCADE",
            ),
            primary_key=True,
        ),
        sa.Column(
            "product_id",
            sa.Integer(),
            sa.ForeignKey("products.id", name="fk_reservation_items_product_id_products"),
            primary_key=True,
        ),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity > 0", name="ck_reservation_items_quantity_positive"),
    )
    create_event_tables()


def downgrade() -> None:
    drop_event_tables()
    op.drop_table("reservation_items")
    op.drop_table("reservations")
