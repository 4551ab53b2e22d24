"""Product operations: plain functions over a session; they flush, the caller commits."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Select, and_, func, literal_column, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from catalog.categories.service import get_by_slug
from catalog.models import Category, Product
from chassis.errors import Conflict, NotFound, ValidationFailed
from chassis.events import publish
from chassis.pagination import CursorCodec, Page, SortKey, keyset_page

MAX_ID = 2**31 - 1
ProductChange = Literal["created", "updated", "deactivated"]


class ProductNotFound(NotFound):
    """No such product (or it is inactive and the caller is not an admin)."""

    slug, title = "product-not-found", "Product not found"


class DuplicateProduct(Conflict):
    """Another product has that SKU or slug."""

    slug, title = "duplicate-product", "Duplicate product"


class InsufficientStock(Conflict):
    """The adjustment would take stock below zero."""

    slug, title = "insufficient-stock", "Insufficient stock"


class UnknownCategory(ValidationFailed):
    """The named category does not exist."""

    slug, title = "unknown-category", "Unknown category"


SORTS: dict[str, SortKey] = {
    "newest": SortKey("newest", ((Product.created_at, True), (Product.id, True))),
    "price_asc": SortKey("price_asc", ((Product.price_amount, False), (Product.id, False))),
    "price_desc": SortKey("price_desc", ((Product.price_amount, True), (Product.id, True))),
    "name": SortKey("name", ((Product.name, False), (Product.id, False))),
}
_KEY_TYPES: dict[str, tuple[type, ...]] = {
    "newest": (dt.datetime, int),
    "price_asc": (int, int),
    "price_desc": (int, int),
    "name": (str, int),
}


@dataclass(frozen=True)
class ProductFilters:
    """What the product list may be narrowed by."""

    category: str | None = None
    min_price: int | None = None
    max_price: int | None = None
    in_stock: bool | None = None
    q: str | None = None


def slugify(text: str) -> str:
    """A URL slug from a name: ASCII, lower case, words joined by hyphens."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:120] or "product"


def _search(stmt: Select[Any], q: str, dialect: str) -> Select[Any]:
    if dialect == "postgresql":
        # websearch_to_tsquery accepts any user text without syntax errors.
        vector: Any = literal_column("products.search_vector")
        return stmt.where(vector.op("@@")(func.websearch_to_tsquery("english", q)))
    for term in q.split():
        stmt = stmt.where(
            or_(
                Product.name.icontains(term, autoescape=True),
                Product.description.icontains(term, autoescape=True),
            )
        )
    return stmt


def list_products(
    *,
    session: Session,
    codec: CursorCodec,
    filters: ProductFilters,
    sort: str,
    cursor: str | None,
    limit: int,
) -> Page:
    """Active products matching `filters`, one keyset page at a time."""
    stmt = select(Product).where(Product.active.is_(True))
    if filters.category:
        stmt = stmt.join(Product.category).where(Category.slug == filters.category)
    if filters.min_price is not None:
        stmt = stmt.where(Product.price_amount >= filters.min_price)
    if filters.max_price is not None:
        stmt = stmt.where(Product.price_amount <= filters.max_price)
    if filters.in_stock is True:
        stmt = stmt.where(Product.stock > 0)
    elif filters.in_stock is False:
        stmt = stmt.where(Product.stock == 0)
    if filters.q and filters.q.strip():
        stmt = _search(stmt, filters.q.strip(), session.get_bind().dialect.name)
    key = SORTS[sort]
    return keyset_page(
        session,
        stmt,
        sort=key,
        codec=codec,
        cursor=cursor,
        limit=limit,
        key_of=lambda p: [getattr(p, column.key) for column, _ in key.columns],
        types=_KEY_TYPES[sort],
    )


def get_product(*, session: Session, product_id: int, include_inactive: bool = False) -> Product:
    """One product by id; 404 when missing or inactive (unless asked for inactive ones)."""
    product: Product | None = session.get(Product, product_id) if 0 < product_id <= MAX_ID else None
    if product is None or not (product.active or include_inactive):
        raise ProductNotFound(f"No product with id {product_id}.")
    return product


def get_product_by_slug(*, session: Session, slug: str, include_inactive: bool = False) -> Product:
    """One product by slug; 404 when missing or inactive."""
    product = session.scalar(select(Product).where(Product.slug == slug))
    if product is None or not (product.active or include_inactive):
        raise ProductNotFound(f"No product with slug {slug!r}.")
    return product


def _category(session: Session, slug: str) -> Category:
    category = get_by_slug(session=session, slug=slug)
    if category is None:
        raise UnknownCategory(f"No category with slug {slug!r}.")
    return category


def _flush_unique(session: Session, product: Product) -> None:
    try:
        with session.begin_nested():
            session.add(product)
    except IntegrityError as exc:
        raise DuplicateProduct("Another product has this SKU or slug.") from exc


def publish_product_changed(session: Session, product: Product, change: ProductChange) -> None:
    """Tell other services (caches, search) that a product changed, in this transaction."""
    publish(session, "product.changed", {"product_id": product.id, "change": change})


def publish_stock_changed(session: Session, *, product_id: int, stock: int) -> None:
    """Tell other services a product's new stock level, in this transaction."""
    publish(session, "stock.changed", {"product_id": product_id, "stock": stock})


def create_product(*, session: Session, data: dict[str, Any]) -> Product:
    """Add a product; 409 on a taken SKU or slug, 422 on an unknown category."""
    price = data.pop("price")
    product = Product(
        **{k: v for k, v in data.items() if k not in ("category", "slug")},
        slug=data.get("slug") or slugify(data["name"]),
        price_amount=price["amount"],
        currency=price["currency"],
        category=_category(session, data["category"]),
    )
    _flush_unique(session, product)
    publish_product_changed(session, product, "created")
    return product


def update_product(*, session: Session, product_id: int, changes: dict[str, Any]) -> Product:
    """Apply the given changes; fields not given are kept. Publishes only a real change."""
    product = get_product(session=session, product_id=product_id, include_inactive=True)
    was_active = product.active
    if "price" in changes:
        price = changes.pop("price")
        product.price_amount, product.currency = price["amount"], price["currency"]
    if "category" in changes:
        product.category = _category(session, changes.pop("category"))
    for field, value in changes.items():
        setattr(product, field, value)
    # Net change only: a PATCH repeating the current values is not news to anyone.
    changed = session.is_modified(product)
    _flush_unique(session, product)
    if changed:
        deactivated = was_active and not product.active
        publish_product_changed(session, product, "deactivated" if deactivated else "updated")
    return product


def deactivate_product(*, session: Session, product_id: int) -> None:
    """Hide a product from the public catalog; its data is kept."""
    product = get_product(session=session, product_id=product_id, include_inactive=True)
    if not product.active:
        return  # already hidden: deleting again is a no-op, and no event
    product.active = False
    session.flush()
    publish_product_changed(session, product, "deactivated")


def adjust_stock(*, session: Session, product_id: int, delta: int) -> Product:
    """Add `delta` to stock in one statement, so concurrent adjustments never go below zero."""
    product = get_product(session=session, product_id=product_id, include_inactive=True)
    result = session.execute(
        update(Product)
        .where(and_(Product.id == product_id, Product.stock + delta >= 0))
        .values(stock=Product.stock + delta, updated_at=func.now())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise InsufficientStock(
            f"Stock is {product.stock}; cannot take {-delta}.", extra={"stock": product.stock}
        )
    session.refresh(product)
    publish_stock_changed(session, product_id=product.id, stock=product.stock)
    return product
