"""Category request and response bodies."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from chassis.schemas import Model, Text

Slug = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")]


class CategoryCreate(Model):
    """A new category."""

    slug: Slug
    name: Annotated[Text, Field(min_length=1, max_length=120)]


class CategoryRead(Model):
    """A category as clients see it."""

    id: int
    slug: str
    name: str


class CategoryList(Model):
    """Every category, by name; `next_cursor` is always null (the list is short)."""

    items: list[CategoryRead]
    next_cursor: str | None = None
