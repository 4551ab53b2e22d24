"""The catalog's response cache, on a diskcache folder and on a real Redis."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlalchemy.orm import Session

from catalog import create_app
from catalog.models import Category, Product
from catalog.products.invalidation import invalidation_handlers
from catalog.settings import CatalogSettings
from chassis import migrations
from chassis.cache import CACHE_LOOKUPS
from chassis.events import Event, handle_once
from chassis.testing import PrivateRedis, TokenMinter

from ..conftest import make_category, make_product


@pytest.fixture(params=["local", "redis"])
def cache_settings(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """Settings that switch the cache on, in a namespace of the test's own."""
    options: dict[str, Any] = {
        "cache_enabled": True,
        "data_dir": tmp_path,
        "broker_namespace": "t" + uuid.uuid4().hex[:10],
    }
    if request.param == "redis":
        options["redis_url"] = request.getfixturevalue("redis_url")
    return options


@pytest.fixture
def settings(
    migrated_url: str, token_minter: TokenMinter, cache_settings: dict[str, Any]
) -> CatalogSettings:
    """The chassis test settings, with the cache on (the app fixture uses these)."""
    return CatalogSettings(
        env="test",
        database_url=migrated_url,
        jwt_public_key=token_minter.public_pem,
        **cache_settings,
    )


@pytest.fixture
def product(session: Session) -> Product:
    """One active product."""
    return make_product(session, make_category(session), name="Lamp", stock=4)


class StatementCounter:
    """Counts the SQL statements that read the products table."""

    def __init__(self, app: Flask) -> None:
        self.count = 0
        self.statements: list[str] = []
        self._lock = threading.Lock()
        event.listen(app.extensions["bazaar"].db.engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "products" in statement:
            with self._lock:
                self.count += 1
                self.statements.append(statement)


def test_a_second_read_is_a_hit_with_no_query(
    app: Flask, client: FlaskClient, product: Product
) -> None:
    counter = StatementCounter(app)
    first = client.get("/products")
    second = client.get("/products")
    assert first.status_code == second.status_code == 200
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("miss", "hit")
    assert first.get_data() == second.get_data()
    assert first.headers["ETag"] == second.headers["ETag"]
    assert counter.count >= 1
    reads_after_first = counter.count
    client.get("/products")
    assert counter.count == reads_after_first


def test_public_answers_say_how_caches_may_keep_them(client: FlaskClient, product: Product) -> None:
    response = client.get(f"/products/{product.id}")
    assert response.headers["Cache-Control"] == "public, max-age=0, must-revalidate"
    assert response.headers["Vary"] == "Authorization"
    assert response.headers["ETag"].startswith('"')


def test_if_none_match_gets_304_with_no_body(client: FlaskClient, product: Product) -> None:
    etag = client.get("/products").headers["ETag"]
    for _ in range(2):  # a miss, then a hit: both answer the condition
        response = client.get("/products", headers={"If-None-Match": etag})
        assert response.status_code == 304
        assert response.get_data() == b""
        assert response.headers["ETag"] == etag
    assert client.get("/products", headers={"If-None-Match": '"other"'}).status_code == 200


def test_the_query_order_does_not_split_entries(client: FlaskClient, product: Product) -> None:
    client.get("/products?sort=name&limit=5")
    assert client.get("/products?limit=5&sort=name").headers["X-Cache"] == "hit"
    assert client.get("/products?limit=6&sort=name").headers["X-Cache"] == "miss"


def test_an_admin_write_is_seen_by_the_next_read(
    client: FlaskClient, product: Product, admin: dict[str, str]
) -> None:
    assert client.get(f"/products/{product.id}").get_json()["name"] == "Lamp"
    client.get("/products")
    patched = client.patch(f"/products/{product.id}", json={"name": "Desk lamp"}, headers=admin)
    assert patched.status_code == 200
    assert client.get(f"/products/{product.id}").get_json()["name"] == "Desk lamp"
    assert client.get("/products").get_json()["items"][0]["name"] == "Desk lamp"
    adjusted = client.post(
        f"/products/{product.id}/stock-adjustments",
        json={"delta": -4, "reason": "count"},
        headers=admin,
    )
    assert adjusted.status_code == 200
    assert client.get(f"/products/{product.id}").get_json()["in_stock"] is False


def test_a_failed_write_does_not_invalidate(
    client: FlaskClient, product: Product, admin: dict[str, str]
) -> None:
    client.get("/products")
    refused = client.post(
        f"/products/{product.id}/stock-adjustments",
        json={"delta": -99, "reason": "count"},
        headers=admin,
    )
    assert refused.status_code == 409
    assert client.get("/products").headers["X-Cache"] == "hit"


def test_change_events_from_elsewhere_invalidate(
    app: Flask, client: FlaskClient, session: Session, product: Product
) -> None:
    client.get(f"/products/{product.id}")
    # A change made without this app (the worker's reservation, another instance):
    session.query(Product).filter_by(id=product.id).update({"stock": 1})
    session.commit()
    assert client.get(f"/products/{product.id}").get_json()["stock"] == 4  # still cached
    handlers = invalidation_handlers(app.extensions["bazaar"].settings)
    changed = Event.new("stock.changed", {"product_id": product.id, "stock": 1})
    handle_once(session, changed, handlers["stock.changed"])
    session.commit()
    time.sleep(0.15)  # the app reads generations at most every 0.1 s
    fresh = client.get(f"/products/{product.id}")
    assert fresh.headers["X-Cache"] == "miss"
    assert fresh.get_json()["stock"] == 1


def test_admins_bypass_the_cache_for_what_only_they_see(
    client: FlaskClient, session: Session, admin: dict[str, str], customer: dict[str, str]
) -> None:
    hidden = make_product(session, make_category(session), active=False)
    url = f"/products/{hidden.id}"
    assert client.get(url).status_code == 404
    seen = client.get(url, headers=admin)
    assert seen.status_code == 200
    assert seen.headers["Cache-Control"] == "private, no-cache"
    assert "X-Cache" not in seen.headers
    assert client.get(url).status_code == 404  # the admin's answer was not stored
    assert client.get(url, headers=customer).status_code == 404


def test_errors_are_never_stored(client: FlaskClient) -> None:
    assert client.get("/products/999999").status_code == 404
    response = client.get("/products?limit=0")
    assert response.status_code == 400
    assert "X-Cache" not in response.headers


# -- concurrency and outages need a real server database, not the rolled-back one -----


@pytest.fixture
def file_app(tmp_path: Path, cache_settings: dict[str, Any]) -> Iterator[Flask]:
    """A catalog on a SQLite file of its own with one product, the cache on."""
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    from catalog.service import SERVICE

    assert SERVICE.migrations is not None
    migrations.upgrade(SERVICE.migrations, url)
    options = {**cache_settings, "data_dir": tmp_path}
    app = create_app(CatalogSettings(env="test", database_url=url, **options))
    with Session(app.extensions["bazaar"].db.engine) as session:
        category = Category(slug="lamps", name="Lamps")
        session.add(Product(sku="L-1", slug="lamp", name="Lamp", description="", price_amount=900,
                            currency="EUR", stock=3, active=True, category=category))  # fmt: skip
        session.commit()
    yield app
    app.extensions["bazaar"].db.dispose()


def test_64_concurrent_readers_of_a_cold_page_query_the_database_once(file_app: Flask) -> None:
    counter = StatementCounter(file_app)
    barrier = threading.Barrier(64)
    statuses: list[int] = []
    lock = threading.Lock()

    def read() -> None:
        client = file_app.test_client()
        barrier.wait()
        status = client.get("/products?limit=10").status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=read) for _ in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert statuses == [200] * 64
    assert counter.count == 1, counter.statements


def test_reads_survive_a_redis_outage_and_caching_resumes(tmp_path: Path) -> None:
    from chassis.registry import free_port

    server = PrivateRedis(free_port())
    server.start()
    try:
        settings = CatalogSettings(
            env="test",
            database_url=f"sqlite:///{tmp_path / 'catalog.db'}",
            cache_enabled=True,
            redis_url=server.url,
            broker_namespace="t" + uuid.uuid4().hex[:10],
        )
        from catalog.service import SERVICE

        assert SERVICE.migrations is not None
        migrations.upgrade(SERVICE.migrations, settings.database_url)
        app = create_app(settings)
        client = app.test_client()
        assert client.get("/products").headers["X-Cache"] == "miss"
        assert client.get("/products").headers["X-Cache"] == "hit"
        server.stop()
        before = CACHE_LOOKUPS.labels("catalog", "catalog", "unavailable")._value.get()
        for _ in range(10):
            response = client.get("/products")
            assert response.status_code == 200
            assert response.headers["X-Cache"] == "unavailable"
        after = CACHE_LOOKUPS.labels("catalog", "catalog", "unavailable")._value.get()
        assert after - before == 10
        metrics = client.get("/metrics").get_data(as_text=True)
        assert 'cache_lookups_total{cache="catalog",outcome="unavailable",service="catalog"}' in (
            metrics
        )
        server.start()
        outcomes: list[str] = []
        for _ in range(100):
            outcomes.append(client.get("/products").headers["X-Cache"])
            if outcomes[-2:] == ["miss", "hit"]:
                break
            threading.Event().wait(0.05)
        assert outcomes[-2:] == ["miss", "hit"]
        app.extensions["bazaar"].db.dispose()
    finally:
        server.stop()
