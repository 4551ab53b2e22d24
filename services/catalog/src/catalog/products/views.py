"""Product endpoints: parse, call one service function, render."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import Response, url_for

from catalog.models import Product
from catalog.products import service
from catalog.products.schemas import (
    ProductCreate,
    ProductPage,
    ProductQuery,
    ProductRead,
    ProductUpdate,
    StockAdjustment,
)
from chassis.flaskapp import (
    current_principal,
    db_session,
    json_response,
    require_role,
)
from chassis.flaskapp import service as chassis_service
from chassis.httpcache import PUBLIC_SCOPE, public_cache, service_cache

bp = APIBlueprint("products", __name__, tag="Products")


def product_body(product: Product | service.ProductRow) -> dict[str, Any]:
    """A product as `ProductRead` documents it, from our own row (no model per row)."""
    category = product.category
    return {
        "id": product.id,
        "sku": product.sku,
        "slug": product.slug,
        "name": product.name,
        "description": product.description,
        "price": {"amount": product.price_amount, "currency": product.currency},
        "category": {"id": category.id, "slug": category.slug, "name": category.name},
        "image_url": product.image_url,
        "stock": product.stock,
        "in_stock": product.stock > 0,
        "active": product.active,
        "created_at": product.created_at,
        "updated_at": product.updated_at,
    }


def _is_admin() -> bool:
    principal = current_principal()
    return principal is not None and principal.has_role("admin")


def _changed() -> None:
    """Drop cached public answers once this request's change commits (read-your-writes).

    The product and stock events invalidate them too, for changes made elsewhere (by the
    worker's reservations, say); this makes the writer's own next read fresh at once.
    """
    service_cache().bump_after_commit(db_session(), PUBLIC_SCOPE)


@bp.get("/products")
@public_cache()
@bp.input(ProductQuery, location="query", arg_name="query")
@bp.output(ProductPage)
def list_products(query: ProductQuery) -> Response:
    """List active products, filtered and sorted, with keyset pagination."""
    page = service.list_products(
        session=db_session(),
        codec=chassis_service().cursor_codec("products"),
        filters=service.ProductFilters(
            category=query.category,
            min_price=query.min_price,
            max_price=query.max_price,
            in_stock=query.in_stock,
            q=query.q,
            ids=query.id_list(),
        ),
        sort=query.sort,
        cursor=query.cursor,
        limit=query.limit,
    )
    return json_response(
        {"items": [product_body(p) for p in page.items], "next_cursor": page.next_cursor}
    )


@bp.get("/products/<int:product_id>")
@public_cache(private_when=_is_admin)
@bp.output(ProductRead)
def get_product(product_id: int) -> Response:
    """One product by id (admins also see inactive ones)."""
    product = service.get_product(
        session=db_session(), product_id=product_id, include_inactive=_is_admin()
    )
    return json_response(product_body(product))


@bp.get("/products/by-slug/<string:slug>")
@public_cache(private_when=_is_admin)
@bp.output(ProductRead)
def get_product_by_slug(slug: str) -> Response:
    """One product by slug."""
    product = service.get_product_by_slug(
        session=db_session(), slug=slug, include_inactive=_is_admin()
    )
    return json_response(product_body(product))


@bp.post("/products")
@require_role("admin")
@bp.input(ProductCreate, arg_name="body")
@bp.output(ProductRead, status_code=201)
def create_product(body: ProductCreate) -> Any:
    """Create a product (admin)."""
    data = body.model_dump(mode="json")
    product = service.create_product(session=db_session(), data=data)
    _changed()
    location = url_for("products.get_product", product_id=product.id)
    return json_response(product_body(product), status=201, headers={"Location": location})


@bp.patch("/products/<int:product_id>")
@require_role("admin")
@bp.input(ProductUpdate, arg_name="body")
@bp.output(ProductRead)
def update_product(product_id: int, body: ProductUpdate) -> Response:
    """Change a product (admin); send only the fields to change."""
    changes = body.model_dump(mode="json", exclude_unset=True)
    for field in ("name", "price", "category", "active", "slug", "description"):
        if field in changes and changes[field] is None:
            changes.pop(field)
    product = service.update_product(session=db_session(), product_id=product_id, changes=changes)
    _changed()
    return json_response(product_body(product))


@bp.delete("/products/<int:product_id>")
@require_role("admin")
@bp.output({}, status_code=204)
def deactivate_product(product_id: int) -> Any:
    """Deactivate a product (admin): hidden from the catalog, kept in the database."""
    service.deactivate_product(session=db_session(), product_id=product_id)
    _changed()
    return ""


@bp.post("/products/<int:product_id>/stock-adjustments")
@require_role("admin")
@bp.input(StockAdjustment, arg_name="body")
@bp.output(ProductRead)
def adjust_stock(product_id: int, body: StockAdjustment) -> Response:
    """Add to or take from stock (admin); 409 if it would go below zero."""
    product = service.adjust_stock(session=db_session(), product_id=product_id, delta=body.delta)
    _changed()
    return json_response(product_body(product))
