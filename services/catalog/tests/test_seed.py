"""The demo catalog: big enough to page through, identical on every machine, loaded once."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from catalog.models import Category, Product
from catalog.seed import demo_catalog, seed_demo_catalog
from catalog.service import SERVICE
from catalog.settings import CatalogSettings
from chassis import migrations
from chassis.db import Database


def test_demo_catalog_has_at_least_200_products_in_8_categories() -> None:
    categories, products = demo_catalog()
    assert len(categories) >= 8
    assert len(products) >= 200
    assert len({p.sku for p in products}) == len(products)
    assert len({p.slug for p in products}) == len(products)
    assert {p.category.slug for p in products} == {c.slug for c in categories}
    assert any(p.stock == 0 for p in products)


def test_demo_catalog_is_deterministic() -> None:
    def fingerprint() -> list[tuple[str, int, int, str]]:
        return [(p.sku, p.price_amount, p.stock, p.name) for p in demo_catalog()[1]]

    assert fingerprint() == fingerprint()


def test_seed_loads_only_into_an_empty_catalog(tmp_path: Path) -> None:
    settings = CatalogSettings(env="test", database_url=f"sqlite:///{tmp_path / 'c.db'}")
    assert SERVICE.migrations is not None
    migrations.upgrade(SERVICE.migrations, settings.database_url)
    first = seed_demo_catalog(settings)
    assert first == len(demo_catalog()[0]) + len(demo_catalog()[1])
    assert seed_demo_catalog(settings) == 0
    db = Database(settings.database_url)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Product)) == 240
        assert session.scalar(select(func.count()).select_from(Category)) == 10
    db.dispose()
