"""Category endpoints."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from catalog.categories import service
from catalog.categories.schemas import CategoryCreate, CategoryList, CategoryRead
from chassis.flaskapp import db_session, require_role

bp = APIBlueprint("categories", __name__, tag="Categories")


@bp.get("/categories")
@bp.output(CategoryList)
def list_categories() -> CategoryList:
    """List every category."""
    rows = service.list_categories(session=db_session())
    return CategoryList(items=[CategoryRead(id=c.id, slug=c.slug, name=c.name) for c in rows])


@bp.post("/categories")
@require_role("admin")
@bp.input(CategoryCreate, arg_name="body")
@bp.output(CategoryRead, status_code=201)
def create_category(body: CategoryCreate) -> Any:
    """Create a category (admin)."""
    category = service.create_category(session=db_session(), slug=body.slug, name=body.name)
    return CategoryRead(id=category.id, slug=category.slug, name=category.name)
