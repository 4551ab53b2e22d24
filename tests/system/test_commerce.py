"""Buying things through the gateway: the saga, idempotency, stock under contention.

Each test runs on embedded defaults (SQLite, the file broker) and on PostgreSQL, Redis
and RabbitMQ, with real processes started by `bazaar up`.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from .conftest import Platform
from .shop import (
    Customer,
    admin_headers,
    checkout,
    database_rows,
    fill_cart,
    new_customer,
    new_product,
    order,
    stock_of,
    wait_final,
)

pytestmark = pytest.mark.system


def test_a_purchase_through_the_gateway_is_confirmed_within_two_seconds(shop: Platform) -> None:
    customer = new_customer(shop, via_gateway=True)
    product = new_product(shop, admin_headers(shop), stock=5)
    fill_cart(shop, customer, product, quantity=2)
    cart = httpx.get(shop.gateway + "/api/orders/cart", headers=customer.headers).json()
    assert cart["total"] == {"amount": 5000, "currency": "EUR"}

    started = time.monotonic()
    placed = checkout(shop, customer)
    assert placed.status_code in (201, 202), placed.text
    body = placed.json()
    assert body["status"] in ("PENDING", "CONFIRMED")
    assert body["total"] == {"amount": 5000, "currency": "EUR"}
    assert [(i["product_id"], i["quantity"]) for i in body["items"]] == [(product, 2)]
    confirmed = wait_final(shop, customer, body["id"], timeout=2.0)
    elapsed = time.monotonic() - started

    assert confirmed["status"] == "CONFIRMED", confirmed
    assert elapsed <= 2.0
    assert confirmed["history"][0]["status"] == "PENDING"
    assert confirmed["history"][-1]["status"] == "CONFIRMED"
    assert stock_of(shop, product) == 3
    empty = httpx.get(shop.gateway + "/api/orders/cart", headers=customer.headers).json()
    assert empty["items"] == []


def test_a_declined_card_cancels_the_order_and_puts_the_stock_back(shop: Platform) -> None:
    customer = new_customer(shop)
    product = new_product(shop, admin_headers(shop), stock=4)
    fill_cart(shop, customer, product, quantity=3)

    placed = checkout(shop, customer, card="decline")
    assert placed.status_code in (201, 202), placed.text
    cancelled = wait_final(shop, customer, placed.json()["id"])

    assert cancelled["status"] == "CANCELLED"
    assert "declined" in (cancelled["cancel_reason"] or "")
    deadline = time.monotonic() + 5
    while stock_of(shop, product) != 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stock_of(shop, product) == 4


def test_the_order_status_streams_to_the_browser_through_the_gateway(shop: Platform) -> None:
    customer = new_customer(shop)
    product = new_product(shop, admin_headers(shop), stock=2)
    fill_cart(shop, customer, product)
    order_id = checkout(shop, customer).json()["id"]

    statuses = []
    with httpx.stream(
        "GET", f"{shop.gateway}/api/orders/{order_id}/events", headers=customer.headers,
        timeout=httpx.Timeout(10.0),
    ) as stream:  # fmt: skip
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("data:"):
                statuses.append(json.loads(line[5:])["status"])
                if statuses[-1] == "CONFIRMED":
                    break
    assert statuses[-1] == "CONFIRMED"


def test_a_replayed_checkout_returns_the_first_answer_and_places_one_order(
    shop: Platform,
) -> None:
    customer = new_customer(shop)
    product = new_product(shop, admin_headers(shop), stock=3)
    fill_cart(shop, customer, product)
    key = str(uuid.uuid4())

    first = checkout(shop, customer, key=key)
    again = checkout(shop, customer, key=key)

    assert first.status_code in (201, 202), first.text
    assert again.status_code == first.status_code
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    listed = httpx.get(shop.gateway + "/api/orders", headers=customer.headers).json()
    assert [o["id"] for o in listed["items"]] == [first.json()["id"]]
    order_id = first.json()["id"]
    placed = database_rows(shop, "orders", "SELECT body FROM outbox WHERE type = 'order.placed'")
    assert sum(json.loads(b)["payload"]["order_id"] == order_id for (b,) in placed) == 1
    different = checkout(shop, customer, card="decline", key=key)
    assert different.status_code == 422


def test_twenty_concurrent_checkouts_with_one_key_make_one_order_and_one_charge(
    shop: Platform,
) -> None:
    customer = new_customer(shop)
    product = new_product(shop, admin_headers(shop), stock=5)
    fill_cart(shop, customer, product)
    key = str(uuid.uuid4())
    barrier = threading.Barrier(20)

    def attempt(_: int) -> httpx.Response:
        barrier.wait()
        return checkout(shop, customer, key=key)

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(attempt, range(20)))

    statuses = sorted({r.status_code for r in responses})
    assert set(statuses) <= {201, 202, 409}, [r.text for r in responses if r.status_code >= 400]
    created = {r.json()["id"] for r in responses if r.status_code in (201, 202)}
    assert len(created) == 1
    (order_id,) = created
    assert wait_final(shop, customer, order_id)["status"] == "CONFIRMED"
    listed = httpx.get(shop.gateway + "/api/orders", headers=customer.headers).json()
    assert [o["id"] for o in listed["items"]] == [order_id]
    charges = database_rows(
        shop, "payments", "SELECT count(*) FROM payments WHERE order_id = :o", o=order_id
    )
    assert charges == [(1,)]
    assert stock_of(shop, product) == 4


def test_fifty_shoppers_racing_for_ten_units_confirm_exactly_ten(shop: Platform) -> None:
    product = new_product(shop, admin_headers(shop), stock=10)
    with ThreadPoolExecutor(10) as pool:
        customers = list(pool.map(lambda _: new_customer(shop), range(50)))
    for customer in customers:
        fill_cart(shop, customer, product)
    barrier = threading.Barrier(50)

    def buy(customer: Customer) -> str:
        barrier.wait()
        with httpx.Client(timeout=30) as client:
            response = checkout(shop, customer, client=client)
        if response.status_code == 409:  # the fast stock pre-check already saw it sold out
            return ""
        assert response.status_code in (201, 202), response.text
        return str(response.json()["id"])

    with ThreadPoolExecutor(50) as pool:
        order_ids = list(pool.map(buy, customers))

    finals = [
        wait_final(shop, customer, order_id, timeout=30)["status"]
        for customer, order_id in zip(customers, order_ids, strict=True)
        if order_id
    ]
    assert finals.count("CONFIRMED") == 10
    assert stock_of(shop, product) == 0


def test_one_customer_cannot_see_cancel_or_stream_anothers_order(shop: Platform) -> None:
    alice, bob = new_customer(shop), new_customer(shop)
    product = new_product(shop, admin_headers(shop), stock=2)
    fill_cart(shop, alice, product)
    order_id = checkout(shop, alice).json()["id"]
    base = f"{shop.gateway}/api/orders/{order_id}"

    assert httpx.get(base, headers=bob.headers).status_code == 404
    assert httpx.post(base + "/cancel", headers=bob.headers).status_code == 404
    assert httpx.get(base + "/events", headers=bob.headers).status_code == 404
    assert order(shop, alice, order_id)["id"] == order_id


def test_a_customer_cancel_releases_stock_and_voids_the_payment(shop: Platform) -> None:
    customer = new_customer(shop)
    product = new_product(shop, admin_headers(shop), stock=3)
    fill_cart(shop, customer, product, quantity=2)
    order_id = checkout(shop, customer).json()["id"]
    assert wait_final(shop, customer, order_id)["status"] == "CONFIRMED"
    assert stock_of(shop, product) == 1

    cancelled = httpx.post(f"{shop.gateway}/api/orders/{order_id}/cancel", headers=customer.headers)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "CANCELLED"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        voided = database_rows(
            shop, "payments", "SELECT status FROM payments WHERE order_id = :o", o=order_id
        )
        if stock_of(shop, product) == 3 and voided == [("voided",)]:
            break
        time.sleep(0.1)
    assert stock_of(shop, product) == 3
    assert voided == [("voided",)]
