"""The orders service's tables: carts, orders with their items and history, events, keys."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from chassis.db import TimestampMixin, UTCDateTime, service_metadata, utcnow
from chassis.events import add_event_tables
from chassis.idempotency import add_idempotency_table

MAX_QUANTITY = 99
# A customer id is the token's subject; the event contracts allow 64 characters.
CUSTOMER_ID_LENGTH = 64


class Base(DeclarativeBase):
    """The orders service's own metadata: its tables live in its own database."""

    metadata = service_metadata()


class OrderStatus(enum.StrEnum):
    """Where an order is in its life; CANCELLED and DELIVERED are final."""

    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"

    @property
    def is_final(self) -> bool:
        """True when nothing can happen to the order any more."""
        return self in (OrderStatus.CANCELLED, OrderStatus.DELIVERED)


_STATUSES = ", ".join(f"'{s.value}'" for s in OrderStatus)


class Cart(TimestampMixin, Base):
    """A customer's cart; its row also serialises checkouts of the same cart."""

    __tablename__ = "carts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(CUSTOMER_ID_LENGTH), unique=True)

    items: Mapped[list[CartItem]] = relationship(
        back_populates="cart",
        cascade="all, delete-orphan",
        order_by="CartItem.id",
        lazy="selectin",
    )


class CartItem(TimestampMixin, Base):
    """A product in a cart, with the name and price seen when it was put there (display only)."""

    __tablename__ = "cart_items"
    __table_args__ = (
        UniqueConstraint("cart_id", "product_id", name="uq_cart_items_cart_id_product_id"),
        CheckConstraint(f"quantity BETWEEN 1 AND {MAX_QUANTITY}", name="quantity_in_range"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cart_id: Mapped[int] = mapped_column(ForeignKey("carts.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    unit_price_amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    quantity: Mapped[int] = mapped_column(Integer)

    cart: Mapped[Cart] = relationship(back_populates="items")


class Order(TimestampMixin, Base):
    """A placed order: prices, items and address are snapshots taken at checkout."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(f"status IN ({_STATUSES})", name="status_known"),
        CheckConstraint("subtotal_amount >= 0 AND total_amount >= 0", name="totals_not_negative"),
        Index("ix_orders_customer_newest", "customer_id", "created_at", "id"),
        Index("ix_orders_newest", "created_at", "id"),
        Index("ix_orders_status_created", "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(28), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(CUSTOMER_ID_LENGTH))
    status: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    subtotal_amount: Mapped[int] = mapped_column(BigInteger)
    total_amount: Mapped[int] = mapped_column(BigInteger)
    shipping_address: Mapped[dict[str, Any]] = mapped_column(JSON)
    payment_method_id: Mapped[str] = mapped_column(String(64))
    cancel_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # Set once catalog reserved the stock: a second stock.reserved changes nothing.
    stock_reserved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Bumped by every change, so the status stream notices one with a single cheap query.
    version: Mapped[int] = mapped_column(Integer, default=1)

    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order",
        cascade="all, delete-orphan",
        order_by="OrderItem.id",
        lazy="selectin",
    )
    history: Mapped[list[OrderHistory]] = relationship(
        back_populates="order",
        cascade="all, delete-orphan",
        order_by="OrderHistory.id",
        lazy="selectin",
    )


class OrderItem(Base):
    """One line of an order, priced at checkout."""

    __tablename__ = "order_items"
    __table_args__ = (
        CheckConstraint(f"quantity BETWEEN 1 AND {MAX_QUANTITY}", name="quantity_in_range"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    unit_price_amount: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(Integer)
    line_total_amount: Mapped[int] = mapped_column(BigInteger)

    order: Mapped[Order] = relationship(back_populates="items")


class OrderHistory(Base):
    """One step in an order's life: the status it was then in, why, and when."""

    __tablename__ = "order_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(String(500))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    order: Mapped[Order] = relationship(back_populates="history")


add_event_tables(Base.metadata)
add_idempotency_table(Base.metadata)
