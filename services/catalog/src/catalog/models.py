"""The catalog's tables."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from chassis.db import TimestampMixin, service_metadata
from chassis.events import add_event_tables


class Base(DeclarativeBase):
    """The catalog's own metadata: its tables live in its own database."""

    metadata = service_metadata()


# The outbox (events catalog publishes) and inbox (events it has handled) share its database.
add_event_tables(Base.metadata)


class Category(TimestampMixin, Base):
    """A group of products, addressed by slug."""

    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(120))


# The public list shows active products only, in one of three key orders, optionally within
# one category: an index per order (and per category and order) that holds active rows only
# lets PostgreSQL read a keyset page, at any depth, straight off the index. The query must
# say `WHERE active` (not `active IS true`) for the planner to pick a partial index.
LISTING_ORDERS: dict[str, tuple[str, ...]] = {
    "newest": ("created_at", "id"),
    "price": ("price_amount", "id"),
    "name": ("name", "id"),
}
LISTING_INDEXES: dict[str, tuple[str, ...]] = {
    **{f"ix_products_active_{order}": columns for order, columns in LISTING_ORDERS.items()},
    **{
        f"ix_products_active_category_{order}": ("category_id", *columns)
        for order, columns in LISTING_ORDERS.items()
    },
}


class Product(TimestampMixin, Base):
    """Something for sale; the price is in minor units of its currency."""

    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("price_amount >= 0", name="price_not_negative"),
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        *(
            Index(name, *columns, postgresql_where=text("active"))
            for name, columns in LISTING_INDEXES.items()
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(32), unique=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    price_amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), index=True)
    image_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    stock: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    category: Mapped[Category] = relationship(lazy="joined", innerjoin=True)


class ReservationStatus(StrEnum):
    """Where an order's stock reservation stands."""

    RESERVED = "reserved"  # every item was taken from stock and is held for the order
    REJECTED = "rejected"  # nothing was taken (missing, inactive or short product)
    RELEASED = "released"  # the order was cancelled and its items went back to stock
    # A tombstone: order.cancelled arrived before order.placed, so a late placed takes nothing.
    CANCELLED = "cancelled"


class Reservation(TimestampMixin, Base):
    """The stock held for one order; at most one per order, whatever the events say."""

    __tablename__ = "reservations"
    __table_args__ = (
        CheckConstraint(
            "status IN ('reserved', 'rejected', 'released', 'cancelled')", name="status_known"
        ),
    )

    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)

    items: Mapped[list[ReservationItem]] = relationship(
        cascade="all, delete-orphan",
        order_by="ReservationItem.product_id",
        lazy="selectin",
    )


class ReservationItem(Base):
    """How many units of one product a reservation holds (or held, once released)."""

    __tablename__ = "reservation_items"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    order_id: Mapped[str] = mapped_column(
        ForeignKey("reservations.order_id", ondelete="CASCADE"), primary_key=True
    )
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)
