"""Faults on demand: an operator fails authorizations, watches orders cancel, then recover."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from .conftest import Platform
from .shop import (
    admin_headers,
    checkout,
    fill_cart,
    gateway_metric,
    new_customer,
    new_product,
    stock_of,
    wait_final,
)

pytestmark = pytest.mark.system

# Every process re-reads the flags at most a second after they change.
PROPAGATION = 1.5


def bazaar(platform: Platform, *args: str) -> str:
    """Run `bazaar <args>` as an operator on the platform's machine would; its output."""
    done = subprocess.run(
        [sys.executable, "-m", "chassis.cli", *args],
        env=platform.env, cwd=platform.log.parent, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout


def wait_stock(platform: Platform, product: int, expected: int, timeout: float = 15.0) -> None:
    """Wait until the product's stock is `expected` (released stock comes back by event)."""
    deadline = time.monotonic() + timeout
    while (found := stock_of(platform, product)) != expected:
        assert time.monotonic() < deadline, f"stock is {found}, not {expected}"
        time.sleep(0.1)


@pytest.fixture
def operator(shop: Platform) -> Iterator[dict[str, str]]:
    """An admin's headers; every fault is off again after the test."""
    yield admin_headers(shop)
    bazaar(shop, "faults", "clear")


def test_failing_authorizations_cancel_orders_and_release_stock_until_turned_off(
    shop: Platform, operator: dict[str, str]
) -> None:
    product = new_product(shop, operator, stock=20)
    customers = [new_customer(shop) for _ in range(3)]

    turned_on = httpx.put(
        shop.gateway + "/api/faults/payment_failure_ratio",
        json={"value": "100%"},
        headers=operator,
        timeout=10,
    )
    assert turned_on.status_code == 200, turned_on.text
    assert turned_on.json()["value"] == 1
    assert "payment_failure_ratio    1 " in bazaar(shop, "faults", "list")
    time.sleep(PROPAGATION)

    placed = []
    for customer in customers:
        fill_cart(shop, customer, product, quantity=2)
        response = checkout(shop, customer)
        assert response.status_code in (201, 202), response.text
        placed.append((customer, response.json()["id"]))
    for customer, order_id in placed:
        final = wait_final(shop, customer, order_id, timeout=20)
        assert final["status"] == "CANCELLED"
        assert final["cancel_reason"] == "payment declined: processing_error"
    wait_stock(shop, product, 20)  # every reservation released

    # Visible while on: the gauge at the gateway, a warning from the payments worker.
    assert gateway_metric(shop, "fault_flag", fault="payment_failure_ratio") == 1
    output = shop.output()
    assert "fault active" in output and "payment_failure_ratio" in output

    assert "payment_failure_ratio    off" in bazaar(
        shop, "faults", "set", "payment_failure_ratio", "0"
    )
    time.sleep(PROPAGATION)
    assert gateway_metric(shop, "fault_flag", fault="payment_failure_ratio") == 0

    customer = customers[0]
    fill_cart(shop, customer, product, quantity=2)
    response = checkout(shop, customer)
    assert response.status_code in (201, 202), response.text
    assert wait_final(shop, customer, response.json()["id"], timeout=20)["status"] == "CONFIRMED"
    wait_stock(shop, product, 18)
