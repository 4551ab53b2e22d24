"""The catalog's tables."""

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from chassis.db import TimestampMixin, service_metadata


class Base(DeclarativeBase):
    """The catalog's own metadata: its tables live in its own database."""

    metadata = service_metadata()


class Category(TimestampMixin, Base):
    """A group of products, addressed by slug."""

    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(120))


class Product(TimestampMixin, Base):
    """Something for sale; the price is in minor units of its currency."""

    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("price_amount >= 0", name="price_not_negative"),
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        Index("ix_products_newest", "created_at", "id"),
        Index("ix_products_price", "price_amount", "id"),
        Index("ix_products_name", "name", "id"),
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
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)

    category: Mapped[Category] = relationship(lazy="joined", innerjoin=True)
