"""The generated catalog is deterministic and varied."""

from __future__ import annotations

import statistics

from bench.seed import CATEGORIES, COLUMNS, product_rows

IDS = {slug: i for i, slug in enumerate(CATEGORIES, start=1)}


def test_rows_are_deterministic_and_fit_the_columns() -> None:
    first = list(product_rows(50, IDS))
    assert first == list(product_rows(50, IDS))
    assert all(len(row) == len(COLUMNS) for row in first)


def test_rows_vary_like_a_real_catalog() -> None:
    rows = [dict(zip(COLUMNS, row, strict=True)) for row in product_rows(5000, IDS)]
    assert len({r["slug"] for r in rows}) == len({r["sku"] for r in rows}) == 5000
    assert len({r["name"] for r in rows}) > 2500
    assert len({r["category_id"] for r in rows}) == len(CATEGORIES)
    prices = [r["price_amount"] for r in rows]
    assert min(prices) < 1000 < statistics.median(prices) < 10_000 < max(prices)
    sold_out = sum(r["stock"] == 0 for r in rows) / len(rows)
    assert 0.05 < sold_out < 0.12
    walnut = sum("walnut" in (r["name"] + r["description"]).lower() for r in rows) / len(rows)
    assert 0.015 < walnut < 0.06
    created = [r["created_at"] for r in rows]
    assert created == sorted(created)
