"""Category operations."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from catalog.models import Category
from chassis.errors import Conflict


class DuplicateCategory(Conflict):
    """A category with that slug exists."""

    slug, title = "duplicate-category", "Duplicate category"


def list_categories(*, session: Session) -> list[Category]:
    """All categories, by name."""
    return list(session.scalars(select(Category).order_by(Category.name, Category.id)))


def get_by_slug(*, session: Session, slug: str) -> Category | None:
    """The category with `slug`, if any."""
    return session.scalar(select(Category).where(Category.slug == slug))


def create_category(*, session: Session, slug: str, name: str) -> Category:
    """Add a category; 409 when the slug is taken."""
    category = Category(slug=slug, name=name)
    try:
        with session.begin_nested():
            session.add(category)
    except IntegrityError as exc:
        raise DuplicateCategory(f"A category with slug {slug!r} exists.") from exc
    return category
