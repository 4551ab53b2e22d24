"""Product request and response bodies."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, Self

from pydantic import Field, HttpUrl, field_validator, model_validator

from catalog.categories.schemas import CategoryRead, Slug
from chassis.pagination import DEFAULT_LIMIT, MAX_LIMIT
from chassis.schemas import Model, Query, Text

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
ImageUrl = Annotated[HttpUrl, Field(max_length=500)]
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
    cursor: Annotated[str | None, Field(max_length=1000)] = None
    category: Slug | None = None
    min_price: Annotated[int | None, Field(ge=0, le=MAX_PRICE)] = None
    max_price: Annotated[int | None, Field(ge=0, le=MAX_PRICE)] = None
    in_stock: bool | None = None
    sort: Sort = "newest"
    q: Annotated[Text | None, Field(min_length=1, max_length=200)] = None
    ids: Annotated[
        str | None,
        Field(
            pattern=IDS_PATTERN,
            max_length=11 * MAX_LIMIT,
            description=f"Only these products (comma-separated ids, at most {MAX_LIMIT}).",
        ),
    ] = None

    @field_validator("ids")
    @classmethod
    def _ids_fit(cls, value: str | None) -> str | None:
        if value is not None and any(int(i) > MAX_ID for i in value.split(",")):
            raise ValueError(f"product ids are at most {MAX_ID}")
        return value

    def id_list(self) -> tuple[int, ...] | None:
        """The `ids` filter as distinct integers, or None when not given."""
        return tuple(dict.fromkeys(int(i) for i in self.ids.split(","))) if self.ids else None

    @model_validator(mode="after")
    def _price_range(self) -> Self:
        if (
            self.min_price is not None
            and self.max_price is not None
            and self.min_price > self.max_price
        ):
            raise ValueError("min_price must not be greater than max_price")
        return self


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


class StockAdjustment(Model):
    """Add to or take from a product's stock; stock never goes below zero."""

    delta: Annotated[int, Field(ge=-MAX_STOCK, le=MAX_STOCK)]
    reason: Annotated[Text, Field(min_length=1, max_length=200)]

    @model_validator(mode="after")
    def _not_zero(self) -> Self:
        if self.delta == 0:
            raise ValueError("delta must not be zero")
        return self
