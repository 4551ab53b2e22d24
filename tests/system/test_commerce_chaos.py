"""No order lost, none charged twice: a broker outage and a worker killed mid-flight."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from chassis.testing import PrivateRabbitMQ

from .conftest import Platform, on_real_backends
from .shop import (
    Customer,
    admin_headers,
    checkout,
    database_rows,
    fill_cart,
    new_customer,
    new_product,
    order,
    process_alive,
    stock_of,
    wait_final,
    worker_pid,
)

pytestmark = pytest.mark.system


@pytest.fixture
def broker_outage(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[tuple[Platform, PrivateRabbitMQ]]:
    """The platform on PostgreSQL and Redis, with a RabbitMQ node of its own to stop.

    Never the shared broker: other test runs use it at the same time.
    """
    rabbitmq = PrivateRabbitMQ()
    try:
        rabbitmq.start()
        root = tmp_path_factory.mktemp("broker-outage")
        with on_real_backends(root, redis_url, rabbitmq.url) as running:
            yield running, rabbitmq
    finally:
        rabbitmq.remove()


def test_checkouts_during_a_broker_outage_all_settle_once_it_returns(
    broker_outage: tuple[Platform, PrivateRabbitMQ],
) -> None:
    shop, rabbitmq = broker_outage
    product = new_product(shop, admin_headers(shop), stock=150)
    with ThreadPoolExecutor(10) as pool:
        customers = list(pool.map(lambda _: new_customer(shop), range(20)))

    rabbitmq.stop_app()

    def ten_purchases(customer: Customer) -> list[str]:
        placed = []
        for _ in range(10):
            fill_cart(shop, customer, product)
            response = checkout(shop, customer)
            assert response.status_code in (201, 202), response.text
            placed.append(str(response.json()["id"]))
        return placed

    with ThreadPoolExecutor(20) as pool:
        orders = list(pool.map(ten_purchases, customers))
    assert sum(len(o) for o in orders) == 200
    # Nothing moved while the broker was away: every order waits, none is lost.
    assert order(shop, customers[0], orders[0][0])["status"] == "PENDING"

    rabbitmq.start_app()
    started = time.monotonic()
    finals = [
        wait_final(shop, customer, order_id, timeout=max(1.0, 60 - (time.monotonic() - started)))
        for customer, placed in zip(customers, orders, strict=True)
        for order_id in placed
    ]

    confirmed = {o["id"] for o in finals if o["status"] == "CONFIRMED"}
    assert len(confirmed) == 150
    assert stock_of(shop, product) == 0
    payments = database_rows(
        shop, "payments", "SELECT order_id, status FROM payments WHERE status = 'authorized'"
    )
    charged = [order_id for order_id, _ in payments if order_id in confirmed]
    assert sorted(charged) == sorted(confirmed)  # one charge per confirmed order, no more
    twice = database_rows(
        shop,
        "payments",
        "SELECT payment_id FROM ledger_entries WHERE kind = 'authorize' "
        "GROUP BY payment_id HAVING count(*) > 1",
    )
    assert twice == []


def test_a_worker_killed_between_commit_and_publish_sends_the_events_after_restart(
    shop: Platform,
) -> None:
    customer = new_customer(shop)
    product = new_product(shop, admin_headers(shop), stock=2)
    fill_cart(shop, customer, product)
    pid = worker_pid(shop, "orders")
    os.kill(pid, signal.SIGSTOP)  # frozen: the order commits, its event cannot leave
    try:
        placed = checkout(shop, customer)
        assert placed.status_code in (201, 202), placed.text
        order_id = placed.json()["id"]
        time.sleep(0.5)
        pending = database_rows(
            shop,
            "orders",
            "SELECT body FROM outbox WHERE type = 'order.placed' AND published_at IS NULL",
        )
        assert order_id in {json.loads(body)["payload"]["order_id"] for (body,) in pending}
        assert order(shop, customer, order_id)["status"] == "PENDING"
    finally:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)

    # The supervisor starts a new worker, whose relay sends what the dead one could not.
    assert wait_final(shop, customer, order_id, timeout=20)["status"] == "CONFIRMED"
    assert worker_pid(shop, "orders") != pid
    assert httpx.get(shop.gateway + "/livez").status_code == 200
