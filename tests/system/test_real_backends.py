"""The platform on PostgreSQL (a database per service), Redis and RabbitMQ, as in production."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from .conftest import Platform, bearer

pytestmark = pytest.mark.system


def test_readiness_reports_postgresql_and_redis(real_platform: Platform) -> None:
    report = httpx.get(real_platform.catalog + "/readyz").json()
    assert report["status"] == "ok"
    assert {"database", "redis"} <= set(report["checks"])


def test_catalog_search_runs_on_postgresql_full_text(real_platform: Platform) -> None:
    body = httpx.get(real_platform.gateway + "/api/catalog/products",
                     params={"q": "walnut kettlebells", "limit": 100}).json()  # fmt: skip
    # websearch_to_tsquery stems "kettlebells" to match "Kettlebell".
    assert [item["name"] for item in body["items"]] == ["Heritage Kettlebell"]


def test_customer_journey_and_logout_through_redis(real_platform: Platform) -> None:
    email = f"pg-{uuid.uuid4().hex[:10]}@example.com"
    password = "postgres and redis passphrase " + uuid.uuid4().hex[:6]
    account = {"email": email, "password": password, "display_name": "Pat"}
    registered = httpx.post(real_platform.gateway + "/api/auth/register", json=account)
    assert registered.status_code == 201, registered.text
    login = httpx.post(
        real_platform.gateway + "/api/auth/token",
        data={"grant_type": "password", "username": email, "password": password},
    ).json()
    headers = {"Authorization": "Bearer " + login["access_token"]}
    assert httpx.get(real_platform.gateway + "/api/users/me", headers=headers).json()["email"] == (
        email
    )
    # A refresh token is opaque, never a bearer credential.
    as_bearer = {"Authorization": "Bearer " + login["refresh_token"]}
    assert httpx.get(real_platform.gateway + "/api/users/me", headers=as_bearer).status_code == 401

    assert httpx.post(real_platform.gateway + "/api/auth/logout", headers=headers).status_code == (
        204
    )
    time.sleep(1.0)
    for url in (real_platform.gateway + "/api/users/me", real_platform.catalog + "/products/1"):
        assert httpx.get(url, headers=headers).status_code == 401, url


def test_admin_token_writes_to_the_catalog(real_platform: Platform) -> None:
    admin = bearer(real_platform, "admin@bazaar.test", "demo-admin-password")
    body = {"sku": "PG-" + uuid.uuid4().hex[:6].upper(), "name": "Postgres Lamp",
            "price": {"amount": 999, "currency": "EUR"}, "category": "home"}  # fmt: skip
    created = httpx.post(real_platform.gateway + "/api/catalog/products", json=body, headers=admin)
    assert created.status_code == 201, created.text


def test_login_limit_answers_429_with_headers(real_platform: Platform) -> None:
    statuses = []
    for _ in range(12):
        response = httpx.post(
            real_platform.gateway + "/api/auth/token",
            data={"grant_type": "password", "username": "nobody@example.com", "password": "x" * 12},
        )
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert int(response.headers["Retry-After"]) >= 1
            assert "RateLimit-Limit" in response.headers
            break
    assert statuses[-1] == 429, statuses
