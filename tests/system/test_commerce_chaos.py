"""No order lost, none charged twice: a broker outage and a worker killed mid-flight."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from chassis.testing import backend_missing

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
    process_alive,
    stock_of,
    wait_final,
    worker_pid,
)

pytestmark = pytest.mark.system


def rabbitmqctl(*args: str) -> None:
    """Run rabbitmqctl on the local node."""
    command = shutil.which("rabbitmqctl")
    if command is None:
        raise FileNotFoundError("rabbitmqctl")
    subprocess.run([command, *args], check=True, capture_output=True, timeout=120)


@pytest.fixture
def broker_control(real_platform: Platform) -> Iterator[None]:
    """Permission to stop the local RabbitMQ; it is always started again afterwards."""
    try:
        rabbitmqctl("status")
    except (OSError, subprocess.CalledProcessError):
        backend_missing(
            "rabbitmqctl for the local RabbitMQ", "Run the tests where it is installed."
        )
    yield
    rabbitmqctl("start_app")
    rabbitmqctl("await_startup")


@pytest.mark.usefixtures("broker_control")
def test_checkouts_during_a_broker_outage_all_settle_once_it_returns(
    real_platform: Platform,
) -> None:
    shop = real_platform
    product = new_product(shop, admin_headers(shop), stock=150)
    with ThreadPoolExecutor(10) as pool:
        customers = list(pool.map(lambda _: new_customer(shop), range(20)))

    rabbitmqctl("stop_app")

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

    rabbitmqctl("start_app")
    rabbitmqctl("await_startup")
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
