"""Product request and response bodies."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    Field,
    HttpUrl,
    TypeAdapter,
    ValidationError,
)

from catalog.categories.schemas import CategoryRead, Slug
from chassis.pagination import DEFAULT_LIMIT, MAX_LIMIT
from chassis.schemas import Cursor, Model, Query, Text

MAX_PRICE = 2**31 - 1
MAX_ID = 2**31 - 1
MAX_STOCK = 1_000_000

Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]
Sku = Annotated[str, Field(min_length=3, max_length=32, pattern=r"^[A-Z0-9][A-Z0-9-]*$")]
ProductSlug = Annotated[
    str, Field(min_length=1, max_length=120, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
]
Name = Annotated[Text, Field(min_length=1, max_length=200)]
Description = Annotated[Text, Field(max_length=5000)]
_HTTP_URL: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)


def _http_url(value: str) -> str:
    # Kept as sent: normalizing could lengthen it past the documented 500 characters.
    try:
        _HTTP_URL.validate_python(value)
    except ValidationError as exc:
        raise ValueError("not an http(s) URL") from exc
    return value


ImageUrl = Annotated[
    str,
    Field(max_length=500, pattern=r"^https?://\S+$", json_schema_extra={"format": "uri"}),
    AfterValidator(_http_url),
]
Sort = Literal["newest", "price_asc", "price_desc", "name"]
# Up to a page of product ids, comma-separated: one request prices a whole cart.
IDS_PATTERN = rf"^[1-9][0-9]{{0,9}}(,[1-9][0-9]{{0,9}}){{0,{MAX_LIMIT - 1}}}$"


class Money(Model):
    """An amount in minor units (cents) of a currency; never a float."""

    amount: Annotated[int, Field(ge=0, le=MAX_PRICE)]
    currency: Currency


class ProductRead(Model):
    """A product as clients see it."""

    id: int
    sku: str
    slug: str
    name: str
    description: str
    price: Money
    category: CategoryRead
    image_url: str | None
    stock: int
    in_stock: bool
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class ProductPage(Model):
    """One page of products; pass `next_cursor` back as `cursor` for the next one."""

    items: list[ProductRead]
    next_cursor: str | None


class ProductQuery(Query):
    """Filters, sort and paging for the product list."""

    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT
    cursor: Cursor | None = None
    category: Slug | None = None
    min_price: Annotated[int | None, Field(ge=0, le=MAX_PRICE)] = None
    max_price: Annotated[int | None, Field(ge=0, le=MAX_PRICE)] = None
    in_stock: bool | None = None
    sort: Sort = "newest"
    # min_price above max_price is a range no product is in: an empty page, not an error
    # (OpenAPI cannot state a rule between two parameters).
    q: Annotated[Text | None, Field(min_length=1, max_length=200)] = None
    ids: Annotated[
        str | None,
        Field(
            pattern=IDS_PATTERN,
            max_length=11 * MAX_LIMIT,
            description=f"Only these products (comma-separated ids, at most {MAX_LIMIT}).",
        ),
    ] = None

    def id_list(self) -> tuple[int, ...] | None:
        """The `ids` filter as distinct integers, or None when not given.

        An id past the column's range names no product, so it is left out like any
        unknown id (the pattern cannot state that bound).
        """
        if self.ids is None:
            return None
        return tuple(dict.fromkeys(i for i in map(int, self.ids.split(",")) if i <= MAX_ID))


class ProductCreate(Model):
    """A new product (admin)."""

    sku: Sku
    slug: ProductSlug | None = None
    name: Name
    description: Description = ""
    price: Money
    category: Slug
    image_url: ImageUrl | None = None
    stock: Annotated[int, Field(ge=0, le=MAX_STOCK)] = 0
    active: bool = True


class ProductUpdate(Model):
    """Changes to a product (admin); fields left out stay as they are."""

    slug: ProductSlug | None = None
    name: Name | None = None
    description: Description | None = None
    price: Money | None = None
    category: Slug | None = None
    image_url: ImageUrl | None = None
    active: bool | None = None


def _not_zero(delta: int) -> int:
    if delta == 0:
        raise ValueError("delta must not be zero")
    return delta


class StockAdjustment(Model):
    """Add to or take from a product's stock; stock never goes below zero."""

    delta: Annotated[
        int,
        Field(ge=-MAX_STOCK, le=MAX_STOCK, json_schema_extra={"not": {"const": 0}}),
        AfterValidator(_not_zero),
    ]
    reason: Annotated[Text, Field(min_length=1, max_length=200)]
