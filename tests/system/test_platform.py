"""The platform as a newcomer meets it: `bazaar up`, then the API through the gateway."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from .conftest import Platform, bearer, start_platform, stop_platform, wait_until_up

pytestmark = pytest.mark.system


def register_and_login(platform: Platform) -> dict[str, str]:
    """A brand-new customer's Authorization header."""
    email = f"shopper-{uuid.uuid4().hex[:10]}@example.com"
    password = "correct horse battery staple " + uuid.uuid4().hex[:6]
    response = httpx.post(
        platform.gateway + "/api/auth/register",
        json={"email": email, "password": password, "display_name": "Shopper"},
    )
    assert response.status_code == 201, response.text
    return bearer(platform, email, password)


def test_pages_through_the_whole_demo_catalog_with_next_cursor(gateway: httpx.Client) -> None:
    seen: list[int] = []
    cursor: str | None = None
    for _ in range(50):
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        response = gateway.get("/api/catalog/products", params=params)
        assert response.status_code == 200
        body = response.json()
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) >= 200


def test_search_through_the_gateway(gateway: httpx.Client) -> None:
    body = gateway.get("/api/catalog/products", params={"q": "kettlebell"}).json()
    assert body["items"]
    assert all("Kettlebell" in item["name"] for item in body["items"])


def test_categories_through_the_gateway(gateway: httpx.Client) -> None:
    assert len(gateway.get("/api/catalog/categories").json()["items"]) >= 8


def test_request_id_travels_through_gateway_and_back(gateway: httpx.Client) -> None:
    request_id = "system-" + uuid.uuid4().hex
    response = gateway.get("/api/catalog/products/1", headers={"X-Request-ID": request_id})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == request_id


def test_errors_are_problem_json_through_the_gateway(gateway: httpx.Client) -> None:
    for path, status in [
        ("/api/catalog/products/987654", 404),
        ("/api/catalog/products?limit=1000", 400),
        ("/api/catalog/products?cursor=forged", 400),
        ("/api/nowhere/at-all", 404),
    ]:
        response = gateway.get(path)
        assert response.status_code == status, path
        assert response.headers["content-type"].startswith("application/problem+json"), path


def test_admin_writes_need_a_token_and_work_with_one(
    gateway: httpx.Client, platform: Platform, admin_headers: dict[str, str]
) -> None:
    body = {
        "sku": "SYS-" + uuid.uuid4().hex[:8].upper(),
        "name": "System Test Lamp " + uuid.uuid4().hex[:6],
        "price": {"amount": 4200, "currency": "EUR"},
        "category": "home",
        "stock": 2,
    }
    assert gateway.post("/api/catalog/products", json=body).status_code == 401
    customer = register_and_login(platform)
    assert gateway.post("/api/catalog/products", json=body, headers=customer).status_code == 403
    created = gateway.post("/api/catalog/products", json=body, headers=admin_headers)
    assert created.status_code == 201
    found = gateway.get("/api/catalog/products", params={"q": "lamp", "limit": 100}).json()
    assert created.json()["id"] in [item["id"] for item in found["items"]]


def test_openapi_and_docs_are_served(gateway: httpx.Client) -> None:
    spec = gateway.get("/api/openapi.json").json()
    assert "/api/catalog/products" in spec["paths"]
    assert gateway.get("/api/docs").status_code == 200
    assert gateway.get("/").status_code == 200


def test_health_and_metrics(platform: Platform) -> None:
    for base in (platform.gateway, platform.catalog):
        assert httpx.get(base + "/livez").status_code == 200
        assert httpx.get(base + "/readyz").status_code == 200
    metrics = httpx.get(platform.catalog + "/metrics").text
    assert 'route="/products"' in metrics


def test_logs_are_prefixed_with_the_process_name(platform: Platform) -> None:
    output = platform.output()
    assert any(line.startswith("catalog ") and "|" in line for line in output.splitlines())
    assert any(line.startswith("gateway ") and "|" in line for line in output.splitlines())


def test_ctrl_c_stops_everything_and_a_second_run_keeps_the_data(
    platform: Platform, admin_headers: dict[str, str]
) -> None:
    admin = admin_headers
    sku = "KEEP-" + uuid.uuid4().hex[:8].upper()
    body = {"sku": sku, "name": "Kept " + sku, "price": {"amount": 100, "currency": "EUR"},
            "category": "home"}  # fmt: skip
    product_id = httpx.post(platform.gateway + "/api/catalog/products", json=body,
                            headers=admin).json()["id"]  # fmt: skip

    assert stop_platform(platform.process) == 0
    for base in (platform.gateway, platform.catalog):
        with pytest.raises(httpx.ConnectError):
            httpx.get(base + "/livez", timeout=2)

    log = platform.log
    data_dir = log.parent
    marker = len(platform.output())
    platform.process = start_platform(data_dir, platform.env, log)
    wait_until_up(platform, since=marker)
    restarted = platform.output()[marker:]
    assert "data kept" in restarted
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        response = httpx.get(f"{platform.gateway}/api/catalog/products/{product_id}")
        if response.status_code == 200:
            break
        time.sleep(0.2)
    assert response.json()["sku"] == sku
