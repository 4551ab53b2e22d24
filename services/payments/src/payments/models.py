"""The payments service's tables.

`payment_methods` keeps a processor token and what may be shown (brand, last 4, expiry),
never a card number or CVC. `payments` holds one row per order with its running totals;
`ledger_entries` is the append-only record of every operation on the processor, one row
per operation key, which the totals can always be checked against.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from chassis.db import TimestampMixin, UTCDateTime, service_metadata, utcnow
from chassis.events import add_event_tables
from chassis.idempotency import add_idempotency_table

PAYMENT_STATUSES = (
    "authorized",
    "declined",
    "captured",
    "voided",
    "refunded",
    "partially_refunded",
)
LEDGER_KINDS = ("authorize", "decline", "capture", "void", "refund")


def new_id(prefix: str) -> str:
    """A public id: `prefix`, an underscore and 24 random hex digits (`pm_9f2c...`)."""
    return f"{prefix}_{secrets.token_hex(12)}"


def has_id_shape(value: str, prefix: str) -> bool:
    """True when `value` could be an id `new_id(prefix)` made (so it is worth looking up)."""
    return re.fullmatch(re.escape(prefix) + r"_[0-9a-f]{24}", value) is not None


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    """The payments service's own metadata: its tables live in its own database."""

    metadata = service_metadata()


class PaymentMethod(Base):
    """A customer's card, as a processor token; the number never reaches this table."""

    __tablename__ = "payment_methods"
    __table_args__ = (Index("ix_payment_methods_customer", "customer_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(64))
    processor_token: Mapped[str] = mapped_column(String(200))
    brand: Mapped[str] = mapped_column(String(16))
    last4: Mapped[str] = mapped_column(String(4))
    exp_month: Mapped[int] = mapped_column(Integer)
    exp_year: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Payment(TimestampMixin, Base):
    """One order's payment: authorized once, then captured, voided or refunded.

    `payment_method_id` has no foreign key on purpose: a customer may delete a card
    while its payments stay, with the brand and last 4 copied here.
    """

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint(_one_of("status", PAYMENT_STATUSES), name="status_known"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        CheckConstraint(
            "captured_amount >= 0 AND captured_amount <= amount", name="captured_within_amount"
        ),
        CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= captured_amount",
            name="refunded_within_captured",
        ),
        Index("ix_payments_customer", "customer_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[str] = mapped_column(String(64))
    payment_method_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(20))
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    captured_amount: Mapped[int] = mapped_column(Integer, default=0)
    refunded_amount: Mapped[int] = mapped_column(Integer, default=0)
    brand: Mapped[str] = mapped_column(String(16))
    last4: Mapped[str] = mapped_column(String(4))
    # The processor's name for the authorization; captures, voids and refunds cite it.
    authorization_reference: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decline_code: Mapped[str | None] = mapped_column(String(40), nullable=True)

    ledger: Mapped[list[LedgerEntry]] = relationship(order_by="LedgerEntry.position", viewonly=True)


class LedgerEntry(Base):
    """One operation on the processor; rows are only ever inserted.

    Code never updates or deletes them, and on PostgreSQL and SQLite a trigger
    (migration 0001) refuses UPDATE and DELETE. The unique operation key is what makes
    a redelivered event or a retried request record its operation once.
    """

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint(_one_of("kind", LEDGER_KINDS), name="kind_known"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
    )

    # An integer position orders entries made within the same clock tick.
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(32), unique=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    operation_key: Mapped[str] = mapped_column(String(200), unique=True)
    processor_reference: Mapped[str | None] = mapped_column(String(200), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    payment: Mapped[Payment] = relationship(viewonly=True)


class CancelledOrder(Base):
    """A tombstone: the order was cancelled, so a later payment request is declined."""

    __tablename__ = "cancelled_orders"

    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


add_event_tables(Base.metadata)
add_idempotency_table(Base.metadata)
