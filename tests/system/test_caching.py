"""Caching across the platform: edge hits, ETags, freshness within a second, Redis outages.

Run on embedded defaults (a diskcache folder) and on PostgreSQL + Redis + RabbitMQ.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import pytest

from chassis.testing import PrivateRedis

from .conftest import Platform, launch
from .shop import (
    admin_headers,
    checkout,
    fill_cart,
    new_customer,
    new_product,
    service_url,
    wait_final,
)

pytestmark = pytest.mark.system
FRESHNESS_SECONDS = 1.0


def wait_until_seen(url: str, field: str, expected: object) -> float:
    """Seconds until an anonymous GET of `url` shows `field` == `expected` (fails after 5)."""
    started = time.monotonic()
    while time.monotonic() - started < 5:
        if httpx.get(url).json()[field] == expected:
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError(f"{url} never showed {field}={expected!r}")


def until_hit(url: str) -> httpx.Response:
    """GET until the edge answers from its cache.

    The product's own creation event reaches the cache a moment after the admin's write,
    and moves it to a new generation once more: the first entry may be dropped.
    """
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        response = httpx.get(url)
        if response.headers.get("x-cache") == "hit":
            return response
        time.sleep(0.05)
    raise AssertionError(f"{url} was never answered from the cache")


def test_anonymous_reads_are_answered_at_the_edge_with_etags(shop: Platform) -> None:
    product = new_product(shop, admin_headers(shop), stock=3)
    url = f"{shop.gateway}/api/catalog/products/{product}"
    first = httpx.get(url)
    second = until_hit(url)
    assert first.status_code == second.status_code == 200
    assert second.content == first.content
    assert second.headers["cache-control"] == "public, max-age=0, must-revalidate"
    etag = second.headers["etag"]
    conditional = httpx.get(url, headers={"If-None-Match": etag})
    assert conditional.status_code == 304
    assert conditional.content == b""
    # The same condition straight at the catalog: 304 from its own cache, same tag.
    direct = httpx.get(
        f"{service_url(shop, 'catalog')}/products/{product}", headers={"If-None-Match": etag}
    )
    assert direct.status_code == 304


def test_a_price_change_is_seen_within_a_second(shop: Platform) -> None:
    admin = admin_headers(shop)
    product = new_product(shop, admin, stock=3)
    detail = f"{shop.gateway}/api/catalog/products/{product}"
    assert until_hit(detail).json()["price"]["amount"] == 2500
    changed = httpx.patch(
        detail, json={"price": {"amount": 1999, "currency": "EUR"}}, headers=admin
    )
    assert changed.status_code == 200
    elapsed = wait_until_seen(detail, "price", {"amount": 1999, "currency": "EUR"})
    assert elapsed < FRESHNESS_SECONDS


def test_a_reservation_by_the_worker_is_seen_within_a_second(shop: Platform) -> None:
    product = new_product(shop, admin_headers(shop), stock=5)
    detail = f"{shop.gateway}/api/catalog/products/{product}"
    assert until_hit(detail).json()["stock"] == 5
    customer = new_customer(shop)
    fill_cart(shop, customer, product, quantity=2)
    placed = checkout(shop, customer)
    assert placed.status_code in (201, 202), placed.text
    # The catalog's worker reserved the stock, without any HTTP request to the catalog;
    # its stock.changed event moved the cache on.
    started = time.monotonic()
    elapsed = wait_until_seen(detail, "stock", 3)
    final = wait_final(shop, customer, placed.json()["id"])
    assert final["status"] == "CONFIRMED"
    assert elapsed < FRESHNESS_SECONDS + (time.monotonic() - started)
    listed = httpx.get(f"{shop.gateway}/api/catalog/products", params={"limit": 100}).json()
    assert all(item["stock"] == 3 for item in listed["items"] if item["id"] == product)


def test_reads_go_on_through_a_redis_outage_and_caching_comes_back(tmp_path: Path) -> None:
    from chassis.registry import free_port

    redis_server = PrivateRedis(free_port())
    redis_server.start()
    env = {
        "BAZAAR_REDIS_URL": redis_server.url,
        "BAZAAR_BROKER_NAMESPACE": "t" + uuid.uuid4().hex[:8],
    }
    try:
        with launch(tmp_path, env) as platform:
            url = f"{platform.gateway}/api/catalog/products?limit=5"
            until_hit(url)

            redis_server.stop()
            time.sleep(0.2)
            for _ in range(10):
                response = httpx.get(url)
                assert response.status_code == 200
                assert len(response.json()["items"]) == 5
            catalog_metrics = httpx.get(platform.catalog + "/metrics").text
            gateway_metrics = httpx.get(platform.gateway + "/metrics").text
            assert "cache_errors_total" in catalog_metrics + gateway_metrics
            assert "cache unavailable" in platform.output()

            redis_server.start()
            deadline = time.monotonic() + 10
            outcomes: list[str] = []
            while outcomes[-2:] != ["miss", "hit"] and time.monotonic() < deadline:
                outcomes.append(httpx.get(url + "&after=1").headers.get("x-cache", "none"))
                time.sleep(0.2)
            assert outcomes[-2:] == ["miss", "hit"]
    finally:
        redis_server.stop()
