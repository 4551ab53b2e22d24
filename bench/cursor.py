"""Cursors for deep keyset pages, built the way the catalog builds them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from catalog.models import Product
from catalog.products.service import SORTS
from chassis.db import create_db_engine
from chassis.pagination import CursorCodec

SORT = "newest"  # the product list's default order


def newest_cursor(secret: str, created_at: dt.datetime, product_id: int) -> str:
    """The `cursor` of the page that starts right after this row in the default order."""
    return CursorCodec(secret, "products").encode(SORT, [created_at, product_id])


def row_key(url: str, position: int) -> tuple[dt.datetime, int]:
    """The sort key (created_at, id) of the `position`th active product, newest first."""
    engine = create_db_engine(url, pooled=False)
    try:
        with engine.connect() as connection:
            row = connection.execute(
                select(Product.created_at, Product.id)
                .where(Product.active.is_(True))
                .order_by(*SORTS[SORT].order_by())
                .offset(position - 1)
                .limit(1)
            ).one()
    finally:
        engine.dispose()
    return row[0], int(row[1])


def deep_cursor(url: str, secret: str, position: int) -> str:
    """The cursor after the `position`th row: the next page starts at row `position + 1`."""
    created_at, product_id = row_key(url, position)
    return newest_cursor(secret, created_at, product_id)
