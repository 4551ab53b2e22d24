"""Checkout under load: shoppers in a closed loop, each order followed to CONFIRMED.

Each shopper is a registered customer with an address and a card that always succeeds. In
turn: put one item in the cart, check out with a fresh Idempotency-Key, again, until the
time is up. Nobody polls for the outcome during the run: afterwards the orders database's
status history says when each order was confirmed, and that time (written by the orders
worker on this same machine's clock) minus the moment the checkout request was sent is the
order's time to confirmation.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import text

from bench.report import percentile
from chassis.db import create_db_engine

SUCCESS_CARD = "4242 4242 4242 4242"
ADDRESS = {
    "name": "Sam Shopper",
    "line1": "1 Market Street",
    "city": "Lisbon",
    "postal_code": "1100-001",
    "country": "PT",
}


@dataclass(frozen=True)
class Shopper:
    """A signed-in customer ready to check out, and the product it keeps buying."""

    headers: dict[str, str]
    address_id: str
    card_id: str
    product_id: int


@dataclass(frozen=True)
class Placed:
    """A checkout answered 202: the order, when the request was sent and answered (epoch s)."""

    order_id: str
    sent: float
    answered: float


@dataclass
class LoadRun:
    """What the shoppers did."""

    started: float  # epoch seconds
    ended: float = 0.0
    placed: list[Placed] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class CheckoutResult:
    """Orders per second that reached CONFIRMED, and the time from request to confirmation."""

    placed: int
    confirmed: int
    errors: int
    orders_per_second: float
    p50_ms: float
    p99_ms: float
    answer_p50_ms: float
    answer_p99_ms: float
    seconds: float
    failures: dict[str, int]


def _check(response: httpx.Response, status: int, what: str) -> dict[str, Any]:
    if response.status_code != status:
        raise SystemExit(f"{what}: {response.status_code} {response.text[:500]}")
    body: dict[str, Any] = response.json()
    return body


async def login(client: httpx.AsyncClient, auth: str, email: str, password: str) -> str:
    """An access token from the password grant at `auth` (auth itself, or the gateway's)."""
    response = await client.post(
        auth + "/token", data={"grant_type": "password", "username": email, "password": password}
    )
    return str(_check(response, 200, "token")["access_token"])


async def register(client: httpx.AsyncClient, auth: str) -> tuple[str, str]:
    """A new customer registered at `auth`; its email and password."""
    email = f"bench-{uuid.uuid4().hex[:12]}@example.com"
    password = "a long benchmark passphrase " + uuid.uuid4().hex[:8]
    response = await client.post(
        auth + "/register", json={"email": email, "password": password, "display_name": "Sam"}
    )
    _check(response, 201, "register")
    return email, password


async def _new_shopper(
    client: httpx.AsyncClient, auth: str, gateway: str, product_id: int
) -> Shopper:
    token = await login(client, auth, *await register(client, auth))
    headers = {"Authorization": "Bearer " + token}
    address = await client.post(gateway + "/api/users/me/addresses", json=ADDRESS, headers=headers)
    card = await client.post(
        gateway + "/api/payments/methods",
        headers=headers,
        json={"card_number": SUCCESS_CARD, "exp_month": 12, "exp_year": 2030, "cvc": "123"},
    )
    return Shopper(
        headers=headers,
        address_id=str(_check(address, 201, "address")["id"]),
        card_id=str(_check(card, 201, "card")["id"]),
        product_id=product_id,
    )


async def prepare(auth: str, gateway: str, product_ids: list[int], count: int) -> list[Shopper]:
    """`count` shoppers, registered at auth directly (password hashing is the slow part)."""
    limit = asyncio.Semaphore(4)  # argon2 is CPU-bound: more at once only queue up

    async def one(client: httpx.AsyncClient, index: int) -> Shopper:
        async with limit:
            product = product_ids[index % len(product_ids)]
            return await _new_shopper(client, auth, gateway, product)

    async with httpx.AsyncClient(timeout=30) as client:
        return list(await asyncio.gather(*(one(client, i) for i in range(count))))


async def _shop(
    client: httpx.AsyncClient, gateway: str, shopper: Shopper, deadline: float, run: LoadRun
) -> None:
    body = {"address_id": shopper.address_id, "payment_method_id": shopper.card_id}
    item = f"{gateway}/api/orders/cart/items/{shopper.product_id}"
    while time.monotonic() < deadline:
        try:
            cart = await client.put(item, json={"quantity": 1}, headers=shopper.headers)
            if cart.status_code != 200:
                run.failures[f"cart {cart.status_code}"] += 1
                await asyncio.sleep(0.05)  # a broken cart must not spin the loop
                continue
            headers = {**shopper.headers, "Idempotency-Key": str(uuid.uuid4())}
            sent = time.time()
            answer = await client.post(gateway + "/api/orders", json=body, headers=headers)
            answered = time.time()
        except httpx.HTTPError as exc:
            run.failures[type(exc).__name__] += 1
            await asyncio.sleep(0.05)
            continue
        if answer.status_code == 202:
            run.placed.append(Placed(str(answer.json()["id"]), sent, answered))
        else:
            run.failures[f"checkout {answer.status_code}"] += 1


async def shop(gateway: str, shoppers: list[Shopper], seconds: float) -> LoadRun:
    """Every shopper checks out in a loop for `seconds`; what was placed, and what failed."""
    limits = httpx.Limits(max_connections=len(shoppers), max_keepalive_connections=len(shoppers))
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        run = LoadRun(started=time.time())
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(_shop(client, gateway, s, deadline, run) for s in shoppers))
        run.ended = time.time()
    return run


def order_statuses(orders_db: str) -> dict[str, str]:
    """Every order's status (the database holds this run's orders only)."""
    engine = create_db_engine(orders_db, pooled=False)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT id, status FROM orders"))
            return {str(order_id): str(status) for order_id, status in rows}
    finally:
        engine.dispose()


def wait_settled(orders_db: str, order_ids: set[str], timeout: float) -> dict[str, str]:
    """Wait until none of the orders is PENDING (or time runs out); their statuses."""
    deadline = time.monotonic() + timeout
    while True:
        statuses = order_statuses(orders_db)
        pending = [o for o in order_ids if statuses.get(o, "PENDING") == "PENDING"]
        if not pending or time.monotonic() > deadline:
            return statuses
        time.sleep(0.5)


def confirmation_times(orders_db: str) -> dict[str, float]:
    """When each order reached CONFIRMED, as epoch seconds, from its status history."""
    engine = create_db_engine(orders_db, pooled=False)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT order_id, at FROM order_history WHERE status = 'CONFIRMED'")
            )
            found: dict[str, float] = {}
            for order_id, at in rows:
                # SQLite hands back text; PostgreSQL an aware datetime.
                found[str(order_id)] = _epoch(at)
            return found
    finally:
        engine.dispose()


def _epoch(value: Any) -> float:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return float(value.timestamp())


def summarize(
    run: LoadRun, confirmed_at: dict[str, float], statuses: dict[str, str]
) -> CheckoutResult:
    """The figures of a run. Throughput counts confirmed orders over the time from the first
    request to the last confirmation, so a backlog the saga works off after the run counts."""
    latencies = []
    last = run.started
    failures = Counter(run.failures)
    for placed in run.placed:
        at = confirmed_at.get(placed.order_id)
        if at is None:
            failures[f"order {statuses.get(placed.order_id, 'missing')}"] += 1
            continue
        latencies.append((at - placed.sent) * 1000)
        last = max(last, at)
    answers = [(p.answered - p.sent) * 1000 for p in run.placed]
    seconds = max(last, run.ended) - run.started
    return CheckoutResult(
        placed=len(run.placed),
        confirmed=len(latencies),
        errors=sum(failures.values()),
        orders_per_second=len(latencies) / seconds if seconds > 0 else 0.0,
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        answer_p50_ms=percentile(answers, 50),
        answer_p99_ms=percentile(answers, 99),
        seconds=seconds,
        failures=dict(failures),
    )
