"""The users service's tables: profiles and their addresses."""

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from chassis.db import TimestampMixin, service_metadata

ROLES = ("customer", "admin")


class Base(DeclarativeBase):
    """The users service's own metadata: its tables live in its own database."""

    metadata = service_metadata()


class Profile(TimestampMixin, Base):
    """A person's profile; `id` is the user id auth issued, also the tokens' `sub`."""

    __tablename__ = "profiles"
    __table_args__ = (
        CheckConstraint("role IN ('customer', 'admin')", name="role_known"),
        Index("ix_profiles_created", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(80))
    phone: Mapped[str | None] = mapped_column(String(21), nullable=True)
    role: Mapped[str] = mapped_column(String(16), default="customer")


class Address(TimestampMixin, Base):
    """A postal address of one user; at most one of a user's addresses is the default."""

    __tablename__ = "addresses"
    __table_args__ = (
        # The database, not only the service, guarantees a single default per user.
        Index(
            "uq_addresses_one_default",
            "user_id",
            unique=True,
            sqlite_where=text("is_default"),
            postgresql_where=text("is_default"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("profiles.id", ondelete="CASCADE"), index=True)
    label: Mapped[str | None] = mapped_column(String(40), nullable=True)
    name: Mapped[str] = mapped_column(String(120))
    line1: Mapped[str] = mapped_column(String(200))
    line2: Mapped[str | None] = mapped_column(String(200), nullable=True)
    city: Mapped[str] = mapped_column(String(100))
    postal_code: Mapped[str] = mapped_column(String(20))
    region: Mapped[str | None] = mapped_column(String(100), nullable=True)
    country: Mapped[str] = mapped_column(String(2))
    phone: Mapped[str | None] = mapped_column(String(21), nullable=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
