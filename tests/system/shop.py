"""A customer's moves through the platform, for the commerce system tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from chassis.registry import discover

from .conftest import Platform

SUCCESS_CARD = "4242 4242 4242 4242"
DECLINE_CARD = "4000 0000 0000 0002"
# For the setup calls below. Tests start dozens of them at once on two shared cores, and
# registration and login are slow on purpose (argon2id): httpx's 5 s default is too tight.
TIMEOUT = 30.0
FINAL = {"CONFIRMED", "CANCELLED"}


@dataclass
class Customer:
    """A registered, logged-in customer with an address and two saved cards."""

    headers: dict[str, str]
    address_id: str
    cards: dict[str, str] = field(default_factory=dict)


def service_url(platform: Platform, name: str) -> str:
    """Where a service listens directly (behind the gateway)."""
    return platform.env[f"BAZAAR_{name.upper()}_URL"]


def token(base: str, email: str, password: str) -> dict[str, str]:
    """The password grant against a token endpoint; an Authorization header."""
    response = httpx.post(
        base + "/token",
        data={"grant_type": "password", "username": email, "password": password},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    return {"Authorization": "Bearer " + response.json()["access_token"]}


def new_customer(platform: Platform, *, via_gateway: bool = False) -> Customer:
    """Register, log in, add an address and the success and decline cards.

    Off the gateway, registration and login go to auth directly: the gateway's strict
    per-IP limits are for people, not for a test making fifty customers.
    """
    auth = platform.gateway + "/api/auth" if via_gateway else service_url(platform, "auth")
    email = f"shopper-{uuid.uuid4().hex[:12]}@example.com"
    password = "a long shopping passphrase " + uuid.uuid4().hex[:8]
    registered = httpx.post(
        auth + "/register",
        json={"email": email, "password": password, "display_name": "Sam"},
        timeout=TIMEOUT,
    )
    assert registered.status_code == 201, registered.text
    headers = token(auth, email, password)
    address = httpx.post(
        platform.gateway + "/api/users/me/addresses",
        headers=headers,
        json={"name": "Sam Shopper", "line1": "1 Market Street", "city": "Lisbon",
              "postal_code": "1100-001", "country": "PT"},
        timeout=TIMEOUT,
    )  # fmt: skip
    assert address.status_code == 201, address.text
    customer = Customer(headers=headers, address_id=address.json()["id"])
    for name, number in (("success", SUCCESS_CARD), ("decline", DECLINE_CARD)):
        card = httpx.post(
            platform.gateway + "/api/payments/methods",
            headers=headers,
            json={"card_number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123"},
            timeout=TIMEOUT,
        )
        assert card.status_code == 201, card.text
        assert card.json()["id"].startswith("pm_")
        customer.cards[name] = card.json()["id"]
    return customer


def admin_headers(platform: Platform) -> dict[str, str]:
    """The seeded demo admin, logged in at auth."""
    return token(service_url(platform, "auth"), "admin@bazaar.test", "demo-admin-password")


def new_product(
    platform: Platform, admin: dict[str, str], stock: int, name: str = "System Test Lamp"
) -> int:
    """A product of our own with `stock` units, so tests never share stock."""
    suffix = uuid.uuid4().hex[:10]
    body = {
        "sku": "SYS-" + suffix.upper(),
        "slug": "system-test-lamp-" + suffix,
        "name": name,
        "price": {"amount": 2500, "currency": "EUR"},
        "category": "home",
        "stock": stock,
    }
    created = httpx.post(
        platform.gateway + "/api/catalog/products", json=body, headers=admin, timeout=TIMEOUT
    )
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


_admins: dict[str, tuple[float, dict[str, str]]] = {}


def _admin_of(platform: Platform) -> dict[str, str]:
    """The admin's header, logged in again every few minutes (tokens live 15)."""
    made, headers = _admins.get(platform.gateway, (0.0, {}))
    if time.monotonic() - made > 300:
        headers = admin_headers(platform)
        _admins[platform.gateway] = (time.monotonic(), headers)
    return headers


def stock_of(platform: Platform, product_id: int) -> int:
    """The product's stock, read from catalog directly as an admin: no cache in between."""
    admin = _admin_of(platform)
    url = f"{service_url(platform, 'catalog')}/products/{product_id}"
    response = httpx.get(url, headers=admin, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return int(response.json()["stock"])


def fill_cart(platform: Platform, customer: Customer, product_id: int, quantity: int = 1) -> None:
    """Put `quantity` of a product in the customer's cart."""
    response = httpx.put(
        f"{platform.gateway}/api/orders/cart/items/{product_id}",
        json={"quantity": quantity},
        headers=customer.headers,
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text


def empty_cart(platform: Platform, customer: Customer) -> None:
    """Take every product out of the customer's cart."""
    cart = httpx.get(
        f"{platform.gateway}/api/orders/cart", headers=customer.headers, timeout=TIMEOUT
    )
    assert cart.status_code == 200, cart.text
    for item in cart.json()["items"]:
        url = f"{platform.gateway}/api/orders/cart/items/{item['product_id']}"
        removed = httpx.delete(url, headers=customer.headers, timeout=TIMEOUT)
        assert removed.status_code == 204, removed.text


def checkout(
    platform: Platform,
    customer: Customer,
    card: str = "success",
    key: str | None = None,
    client: httpx.Client | None = None,
) -> httpx.Response:
    """POST /api/orders with an idempotency key (a new one unless given)."""
    headers = {**customer.headers, "Idempotency-Key": key or str(uuid.uuid4())}
    body = {"address_id": customer.address_id, "payment_method_id": customer.cards[card]}
    if client is not None:
        return client.post(platform.gateway + "/api/orders", json=body, headers=headers)
    return httpx.post(platform.gateway + "/api/orders", json=body, headers=headers, timeout=TIMEOUT)


def order(platform: Platform, customer: Customer, order_id: str) -> dict[str, Any]:
    """The order as its owner sees it."""
    url = f"{platform.gateway}/api/orders/{order_id}"
    response = httpx.get(url, headers=customer.headers, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_final(
    platform: Platform, customer: Customer, order_id: str, timeout: float = 10.0
) -> dict[str, Any]:
    """Poll until the order is CONFIRMED or CANCELLED; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        current = order(platform, customer, order_id)
        if current["status"] in FINAL:
            return current
        if time.monotonic() > deadline:
            raise AssertionError(f"order {order_id} still {current['status']} after {timeout}s")
        time.sleep(0.05)


def worker_pid(platform: Platform, service: str) -> int:
    """The process id of this platform's events worker of `service` (Linux /proc).

    Workers are children of the platform's `bazaar up`; their command line (a process
    title when forked) ends with `events worker <service>`.
    """
    wanted = ["events", "worker", service]
    for pid, args in children(platform.process.pid):
        if args[-3:] == wanted:
            return pid
    raise AssertionError(f"no {service} worker found for {platform.env['BAZAAR_DATA_DIR']}")


def server_pids(platform: Platform, service: str) -> tuple[int, list[int]]:
    """The gunicorn master of a service under `bazaar up`, and its web workers' pids.

    The master is the child of `bazaar up` serving the service's app: its process title
    (`gunicorn: master [<app>()]`) or its command line names the app factory.
    """
    app = discover()[service].app_factory + "()"
    for pid, args in children(platform.process.pid):
        if app in args or f"[{app}]" in args:
            return pid, [worker for worker, _ in children(pid)]
    raise AssertionError(f"no {service} server found for {platform.env['BAZAAR_DATA_DIR']}")


def children(parent: int) -> Iterator[tuple[int, list[str]]]:
    """Each live child of a process, with its command line (or process title) in words."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == parent and fields[0] != "Z":
            words = [w for a in argv if a for w in a.decode(errors="replace").split()]
            yield int(entry.name), words


def process_alive(pid: int) -> bool:
    """True while the process exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def database_rows(platform: Platform, service: str, sql: str, **params: Any) -> list[Any]:
    """Rows from a service's own database (SQLite file or PostgreSQL), for checks only."""
    url = platform.env.get(f"BAZAAR_{service.upper()}_DATABASE_URL")
    if url is None:
        path = Path(platform.env["BAZAAR_DATA_DIR"]) / f"{service}.db"
        url = f"sqlite:///{path if path.is_absolute() else platform.log.parent / path}"
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(sa.text(sql), params)]
    finally:
        engine.dispose()


# -- extra processes: a second instance of a service, a second events worker ------------


def start_process(platform: Platform, name: str, argv: list[str], **env: str) -> Popen[bytes]:
    """Run `bazaar <argv>` beside the platform, with its environment, logging to `<name>.log`."""
    log = platform.log.parent / f"{name}.log"
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "chassis.cli", *argv],
            env={**platform.env, "PYTHONUNBUFFERED": "1", **env},
            cwd=platform.log.parent,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a kill takes its children too
        )


def platform_env(env: dict[str, str]) -> dict[str, str]:
    """`env` plus what services set for each other under `bazaar up` (where the JWKS is, ...).

    A process started beside the platform needs them too; they are computed the way
    `bazaar up` does, from each service's settings under `env`.
    """
    added: dict[str, str] = {}
    with pytest.MonkeyPatch.context() as patch:
        for name in [name for name in os.environ if name.startswith("BAZAAR_")]:
            patch.delenv(name)
        for name, value in env.items():
            patch.setenv(name, value)
        for spec in discover().values():
            if spec.platform_env is not None:
                added.update(spec.platform_env(spec.settings_class()))
    return {**added, **env}


def start_instance(platform: Platform, service: str, port: int) -> Popen[bytes]:
    """Another instance of a service on `port`, on the platform's databases and broker."""
    argv = ["serve", service, "--no-migrate"]
    env = {f"BAZAAR_{service.upper()}_PORT": str(port)}
    return start_process(platform, f"{service}-{port}", argv, **env)


def wait_live(process: Popen[bytes], port: int, timeout: float = 30.0) -> None:
    """Wait until the process answers `/livez` on `port`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/livez", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{process.args} did not answer on {port}")
        time.sleep(0.1)


def kill_hard(process: Popen[bytes]) -> None:
    """SIGKILL a process and its children, as a machine that dies would; wait for it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def stop_all(processes: list[Popen[bytes]], timeout: float = 10.0) -> None:
    """SIGTERM every process group at once; SIGKILL those not stopped in time."""
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            kill_hard(process)


def gateway_checks(platform: Platform) -> dict[str, Any]:
    """The gateway's readiness entries (`upstream:<name>`, `upstream:<name>@<url>`, ...)."""
    checks: dict[str, Any] = httpx.get(platform.gateway + "/readyz").json()["checks"]
    return checks


def wait_check(platform: Platform, name: str, status: str, timeout: float = 15.0) -> None:
    """Wait until a gateway readiness entry has the status."""
    deadline = time.monotonic() + timeout
    while (found := gateway_checks(platform)[name]["status"]) != status:
        if time.monotonic() > deadline:
            raise AssertionError(f"gateway check {name} is {found}, not {status}, after {timeout}s")
        time.sleep(0.1)


def gateway_metric(platform: Platform, name: str, **labels: str) -> float:
    """The sum of a gateway metric's samples that carry these labels."""
    text = httpx.get(platform.gateway + "/metrics").text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )
