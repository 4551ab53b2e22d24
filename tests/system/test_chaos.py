"""Faults nobody scripted, each under concurrent checkouts, on PostgreSQL, Redis and RabbitMQ.

One platform runs on servers of this module's own (a PostgreSQL cluster, a redis-server and
a RabbitMQ node on free ports), so they can be restarted, emptied and stopped without
touching the machine's shared ones. Each test buys its own product with a few shoppers while
one fault happens, then checks what a client and the databases saw:

- no 500, and no request left without an answer;
- every request a client retries (same Idempotency-Key) answered within 5 s of the fault's end;
- no order lost or placed twice, every one CONFIRMED, charged once, and stock exact;
- no revoked token accepted, and no anonymous read older than 2 s once Redis is back.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pprint import pformat
from typing import Any

import httpx
import pytest

from chassis.registry import free_port
from chassis.settings import ServiceSettings
from chassis.testing import PrivatePostgres, PrivateRabbitMQ, PrivateRedis

from .conftest import SERVICES_WITH_DATABASES, Platform, launch
from .shop import (
    TIMEOUT,
    Customer,
    admin_headers,
    database_rows,
    empty_cart,
    new_customer,
    new_product,
    process_alive,
    server_pids,
    service_url,
    worker_pid,
)

pytestmark = pytest.mark.system

SHOPPERS = 4
# For the frozen neighbour: more shoppers than a service has web threads (8), as on a busy
# day, so that threads waiting on the neighbour could starve the service.
CROWD = 12
STOCK = 10_000  # never sold out: every order placed must end CONFIRMED
RECOVERY = 5.0  # every retried request answered within this long after a fault ends
FRESHNESS = 2.0  # no anonymous read older than this once Redis is back
STEADY = 1.0  # shoppers go on this long once every request caught by the fault is answered
GIVE_UP = 20.0  # a client stops retrying one request after this long (bounded loops)
SETTLE = 30.0  # every order final within this long after the shoppers stop
# What a client retries with the same request (and key): "busy, try again".
RETRYABLE = {502, 503, 504}
IN_FLIGHT = "/problems/idempotency-key-in-flight"


# -- what clients saw ---------------------------------------------------------------------


@dataclass
class Call:
    """One HTTP request and its answer (status None: no answer at all)."""

    what: str
    started: float
    ended: float
    status: int | None
    retry_after: str | None = None
    detail: str = ""

    def __str__(self) -> str:
        answer = self.status if self.status is not None else f"no answer ({self.detail})"
        return f"{self.what} at {self.started:.2f}s→{self.ended:.2f}s: {answer} {self.detail}"


@dataclass
class Operation:
    """One request a client sends until it is answered: its first try, then its retries."""

    what: str
    first: float
    calls: list[Call] = field(default_factory=list)
    answered: float | None = None
    given_up: bool = False  # a wrong answer, or no good one in time
    body: dict[str, Any] = field(default_factory=dict)


class Clock:
    """Seconds since the test's start, so reports read as a timeline."""

    def __init__(self) -> None:
        self.zero = time.monotonic()

    def now(self) -> float:
        """Seconds since the start."""
        return time.monotonic() - self.zero


def send(clock: Clock, what: str, request: Callable[[], httpx.Response]) -> tuple[Call, Any]:
    """Send one request; the call as seen by the client, and the body (JSON when it is)."""
    started = clock.now()
    try:
        response = request()
    except httpx.HTTPError as exc:
        return Call(what, started, clock.now(), None, detail=type(exc).__name__), None
    try:
        body = response.json()
    except ValueError:
        body = None
    problem = body.get("type", "") if isinstance(body, dict) and response.is_error else ""
    call = Call(what, started, clock.now(), response.status_code,
                response.headers.get("Retry-After"), problem)  # fmt: skip
    return call, body


class Shopping:
    """Shoppers buying one product in a loop, each in a thread: cart, then checkout."""

    def __init__(self, chaos: Chaos, product: int, customers: list[Customer]) -> None:
        self.chaos = chaos
        self.product = product
        self.customers = customers
        self.clock = chaos.clock
        self.operations: list[Operation] = []
        self.fault_started: float | None = None
        self.fault_ended: float | None = None
        self.started = self.clock.now()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sending: dict[int, tuple[str, float]] = {}  # thread -> what, since when
        self._threads = [
            threading.Thread(target=self._shop, args=(customer,), daemon=True)
            for customer in customers
        ]

    def __enter__(self) -> Shopping:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        deadline = time.monotonic() + GIVE_UP + 2 * TIMEOUT
        for thread in self._threads:
            thread.join(max(0.1, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in self._threads), "a shopper never came back"

    @contextlib.contextmanager
    def fault(self) -> Iterator[None]:
        """Mark the fault's start and end (the block injects it, and waits for its end)."""
        self._wait_in_full_swing()
        self.fault_started = self.clock.now()
        try:
            yield
        finally:
            self.fault_ended = self.clock.now()
        # Until every request sent before the end is answered (or past its time), then a
        # moment of plain shopping: the platform is back, not just these requests.
        until = self.fault_ended + RECOVERY + 1.0
        while self.clock.now() < until and self._caught_by_the_fault():
            time.sleep(0.05)
        time.sleep(STEADY)

    def _wait_in_full_swing(self) -> None:
        """Wait until every shopper has checked out twice (at most 30 s): a warm platform."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with self._lock:
                done = sum(op.what == "checkout" and op.answered is not None
                           for op in self.operations)  # fmt: skip
            if done >= 2 * len(self.customers):
                return
            time.sleep(0.05)
        raise AssertionError(f"only {done} checkouts in 30 s before the fault")

    def _caught_by_the_fault(self) -> bool:
        """Whether a request sent before the fault ended is still waiting for its answer."""
        assert self.fault_ended is not None
        with self._lock:
            return any(
                op.answered is None and op.first <= self.fault_ended and not op.given_up
                for op in self.operations
            )

    def _give_up_at(self, operation: Operation) -> float:
        """When a client stops retrying: GIVE_UP after its first try, and never much later
        than the 5 s it may take after the fault's end (a failure by then anyway)."""
        if self.fault_ended is None:
            return operation.first + GIVE_UP
        return min(operation.first + GIVE_UP, max(operation.first, self.fault_ended) + RECOVERY + 2)

    def _shop(self, customer: Customer) -> None:
        gateway = self.chaos.platform.gateway
        body = {"address_id": customer.address_id, "payment_method_id": customer.cards["success"]}
        with httpx.Client(base_url=gateway, timeout=TIMEOUT / 3) as client:
            while not self._stop.is_set():
                cart = self._until_answered(
                    "cart", {200},
                    lambda: client.put(f"/api/orders/cart/items/{self.product}",
                                       json={"quantity": 1}, headers=customer.headers),
                )  # fmt: skip
                if cart.answered is None:
                    return  # already reported: this shopper got no answer
                headers = {**customer.headers, "Idempotency-Key": str(uuid.uuid4())}
                placed = self._until_answered(
                    "checkout", {201, 202},
                    lambda: client.post("/api/orders", json=body, headers=headers),  # noqa: B023
                )  # fmt: skip
                if placed.answered is None:
                    return

    def _until_answered(
        self, what: str, ok: set[int], request: Callable[[], httpx.Response]
    ) -> Operation:
        """Send, and resend as a client would on "busy", until answered or GIVE_UP passes."""
        operation = Operation(what, self.clock.now())
        with self._lock:
            self.operations.append(operation)
        while True:
            with self._lock:
                self._sending[threading.get_ident()] = (what, self.clock.now())
            call, body = send(self.clock, what, request)
            with self._lock:
                del self._sending[threading.get_ident()]
            operation.calls.append(call)
            if call.status in ok:
                operation.answered, operation.body = call.ended, body
                return operation
            retry = (
                call.status is None
                or call.status in RETRYABLE
                or (call.status == 409 and call.detail == IN_FLIGHT)
            )
            if not retry or self.clock.now() > self._give_up_at(operation):
                operation.given_up = True
                return operation
            wait = call.retry_after
            time.sleep(min(float(wait), 1.0) if wait and wait.isdigit() else 0.2)

    def wait_midway(self, what: str, requests: int = 2) -> None:
        """Wait until `requests` of the shoppers' `what` requests are each about halfway
        through (on their way for half the median time such a request took so far): at the
        server, past their start, not yet answered."""
        with self._lock:
            took = sorted(
                c.ended - c.started
                for op in self.operations
                for c in op.calls
                if c.what == what and c.status is not None and c.status < 300
            )
        halfway = took[len(took) // 2] / 2 if took else 0.02
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            now = self.clock.now()
            with self._lock:
                sending = list(self._sending.values())
            if sum(w == what and now - t >= halfway for w, t in sending) >= requests:
                return
            time.sleep(0.002)
        raise AssertionError(f"not {requests} {what} requests halfway through in 10s")

    def calls(self) -> list[Call]:
        """Every request the shoppers sent."""
        with self._lock:
            return [call for operation in self.operations for call in operation.calls]


class Visitor:
    """An anonymous visitor reading a product's page and its search listing all along."""

    def __init__(self, platform: Platform, clock: Clock, product: int, word: str) -> None:
        self.platform = platform
        self.clock = clock
        self.product = product
        self.word = word
        self.reads: list[tuple[Call, int | None]] = []  # the call, the stock it showed
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._visit, daemon=True)

    def start(self) -> None:
        """Start reading."""
        self._thread.start()

    def stop(self) -> None:
        """Stop reading."""
        self._stop.set()
        self._thread.join(TIMEOUT)

    def _visit(self) -> None:
        targets = {
            "product page": (f"/api/catalog/products/{self.product}", {}),
            "search listing": ("/api/catalog/products", {"q": self.word}),
        }
        with httpx.Client(base_url=self.platform.gateway, timeout=TIMEOUT / 3) as client:
            while not self._stop.wait(0.1):
                for what, (path, params) in targets.items():
                    call, body = send(
                        self.clock, what, lambda p=path, q=params: client.get(p, params=q)
                    )
                    with self._lock:
                        self.reads.append((call, self._stock(what, body) if call.status else None))

    def _stock(self, what: str, body: Any) -> int | None:
        if not isinstance(body, dict):
            return None
        if what == "product page":
            return int(body["stock"]) if "stock" in body else None
        shown = [item["stock"] for item in body.get("items", []) if item["id"] == self.product]
        return int(shown[0]) if shown else -1  # -1: a listing from before the product

    def since(self, start: float) -> list[tuple[Call, int | None]]:
        """Every read sent after `start`."""
        with self._lock:
            return [(call, stock) for call, stock in self.reads if call.started >= start]


class Truth:
    """The watched product's stock as its database has it, sampled every 50 ms."""

    def __init__(self, platform: Platform, clock: Clock, product: int) -> None:
        self.platform, self.clock, self.product = platform, clock, product
        self.samples: list[tuple[float, float, int]] = []  # asked at, answered at, stock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> Truth:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(TIMEOUT)

    def _sample(self) -> None:
        import sqlalchemy as sa

        url = self.platform.env["BAZAAR_CATALOG_DATABASE_URL"]
        engine = sa.create_engine(url, pool_pre_ping=True)
        query = sa.text("SELECT stock FROM products WHERE id = :id")
        try:
            while not self._stop.wait(0.05):
                asked = self.clock.now()
                with contextlib.suppress(sa.exc.SQLAlchemyError), engine.connect() as connection:
                    stock = connection.execute(query, {"id": self.product}).scalar_one()
                    self.samples.append((asked, self.clock.now(), int(stock)))
        finally:
            engine.dispose()

    def at_most(self, moment: float) -> int:
        """An upper bound of the stock at `moment`: the last sample answered by then.

        Stock only goes down while shoppers buy (none of their orders is cancelled: that
        fails the test anyway), so a page showing more than this is older than `moment`.
        """
        before = [stock for _, answered, stock in self.samples if answered <= moment]
        return before[-1] if before else self.samples[0][2]


# -- the platform ---------------------------------------------------------------------------


@dataclass
class Chaos:
    """The platform on private servers, its shoppers, and a visitor reading all along."""

    platform: Platform
    postgres: PrivatePostgres
    redis: PrivateRedis
    rabbitmq: PrivateRabbitMQ
    customers: list[Customer]
    admin: dict[str, str]
    visitor: Visitor
    clock: Clock

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Every service ready again (the previous test's fault is over), or fail."""
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.platform.gateway + "/readyz", timeout=2).status_code == 200:
                    return
            if time.monotonic() > deadline:
                ready = httpx.get(self.platform.gateway + "/readyz", timeout=5).text
                raise AssertionError(f"the platform is not ready after {timeout}s: {ready}")
            time.sleep(0.2)


@pytest.fixture(scope="module")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chaos]:
    """`bazaar up` on a private PostgreSQL, Redis and RabbitMQ, with shoppers ready."""
    with ExitStack() as stack:
        postgres = PrivatePostgres(max_connections=200)
        stack.callback(postgres.remove)
        redis = PrivateRedis(free_port())
        rabbitmq = PrivateRabbitMQ()
        stack.callback(rabbitmq.remove)
        with ThreadPoolExecutor(3) as pool:  # the three boot at once
            for started in [pool.submit(server.start) for server in (redis, rabbitmq)] + [
                pool.submit(postgres.start)
            ]:
                started.result()
        stack.callback(redis.stop)
        env = {
            "BAZAAR_REDIS_URL": redis.url,
            "BAZAAR_BROKER_URL": rabbitmq.url,
            # One client address sends every request: the limits are for people.
            "BAZAAR_GATEWAY_RATE_LIMITS_ENABLED": "false",
            "BAZAAR_EVENTS_CONCURRENCY": "2",
            # Web threads as shipped, not the system tests' 4: how many a frozen neighbour
            # may hold is measured against them.
            "BAZAAR_THREADS": str(ServiceSettings.model_fields["threads"].default),
        }
        for service in SERVICES_WITH_DATABASES:
            url = postgres.new_database(f"bazaar_{service}")
            env[f"BAZAAR_{service.upper()}_DATABASE_URL"] = url
        platform = stack.enter_context(launch(tmp_path_factory.mktemp("chaos"), env))
        clock = Clock()
        admin = admin_headers(platform)
        word = "".join(chr(ord("a") + int(c, 16)) for c in uuid.uuid4().hex[:12])
        watched = new_product(platform, admin, STOCK, name=f"Chaos Lamp {word}")
        # From the first moment, as visitors do: their pages fill the gateway's memory.
        visitor = Visitor(platform, clock, watched, word)
        visitor.start()
        stack.callback(visitor.stop)
        with ThreadPoolExecutor(4) as pool:
            customers = list(pool.map(lambda _: new_customer(platform), range(CROWD)))
        yield Chaos(platform, postgres, redis, rabbitmq, customers, admin, visitor, clock)


# -- what must hold -------------------------------------------------------------------------


def listed(items: list[Any], limit: int = 8) -> list[str]:
    """The first few of a list of problems, and how many there are."""
    shown = [str(item) for item in items[:limit]]
    return [*shown, f"... {len(items)} in all"] if len(items) > limit else shown


def client_problems(calls: list[Call]) -> dict[str, list[str]]:
    """What no client may see: a 500 (not retried by anyone), or no answer at all."""
    problems = {
        "500 answers": [c for c in calls if c.status == 500],
        "requests without an answer": [c for c in calls if c.status is None],
    }
    return {name: listed(found) for name, found in problems.items() if found}


def assert_sound(
    chaos: Chaos, run: Shopping, stock_before: int, seen: dict[str, list[str]] | None = None
) -> None:
    """Everything the shoppers and the databases saw after the fault holds.

    `seen` adds what the test itself found wrong, so one failure reports every symptom.
    """
    assert run.fault_ended is not None
    shop = chaos.platform
    problems = {name: found for name, found in (seen or {}).items() if found}
    problems |= client_problems(run.calls())
    problems |= client_problems([call for call, _ in chaos.visitor.since(run.started)])
    late = [
        f"{op.what} first sent at {op.first:.2f}s: "
        + (f"answered at {op.answered:.2f}s" if op.answered else "never answered")
        + f" after {len(op.calls)} tries, last {op.calls[-1]}"
        for op in run.operations
        if op.answered is None or op.answered > max(run.fault_ended, op.first) + RECOVERY
    ]
    if late:
        window = f"fault {run.fault_started:.2f}s→{run.fault_ended:.2f}s"
        problems[f"not answered within {RECOVERY:.0f}s of the fault's end ({window})"] = listed(
            late
        )

    placed = [str(op.body["id"]) for op in run.operations if op.what == "checkout" and op.answered]
    if not placed:
        problems["no checkout answered at all"] = listed([str(c) for c in run.calls()[-8:]])
    if len(set(placed)) != len(placed):
        problems["one order answered for two checkouts"] = listed(sorted(placed))
    orders = settled_orders(shop, run.product)
    if lost := set(placed) - set(orders):
        problems["orders answered but not in the database (lost)"] = listed(sorted(lost))
    if unknown := set(orders) - set(placed):
        problems["orders in the database no client was told of"] = listed(sorted(unknown))
    if unconfirmed := {i: s for i, (s, _) in orders.items() if s != "CONFIRMED"}:
        problems["orders not CONFIRMED"] = listed(sorted(unconfirmed.items()))
    sold = sum(quantity for status, quantity in orders.values() if status == "CONFIRMED")
    stock = database_rows(shop, "catalog", "SELECT stock FROM products WHERE id = :id",
                          id=run.product)[0][0]  # fmt: skip
    if stock != stock_before - sold:
        problems["stock not exact"] = [f"{stock} in stock, {stock_before} - {sold} sold"]
    problems |= payment_problems(shop, {i for i, (s, _) in orders.items() if s == "CONFIRMED"})
    assert not problems, pformat(problems, width=100)


def settled_orders(platform: Platform, product: int) -> dict[str, tuple[str, int]]:
    """The product's orders (id → status, quantity) once none is pending, or fail in SETTLE."""
    deadline = time.monotonic() + SETTLE
    sql = (
        "SELECT o.id, o.status, sum(i.quantity) FROM orders o JOIN order_items i "
        "ON i.order_id = o.id WHERE i.product_id = :product GROUP BY o.id, o.status"
    )
    while True:
        rows = database_rows(platform, "orders", sql, product=product)
        orders = {str(i): (str(status), int(quantity)) for i, status, quantity in rows}
        open_ = {i: s for i, (s, _) in orders.items() if s not in ("CONFIRMED", "CANCELLED")}
        if not open_:
            return orders
        if time.monotonic() > deadline:
            raise AssertionError(f"orders still open {SETTLE}s after the shoppers stopped: "
                                 f"{listed(sorted(open_.items()))}")  # fmt: skip
        time.sleep(0.2)


def payment_problems(platform: Platform, confirmed: set[str]) -> dict[str, list[str]]:
    """One authorized payment per confirmed order, and no authorization written twice."""
    rows = database_rows(
        platform, "payments", "SELECT order_id FROM payments WHERE status = 'authorized'"
    )
    charged = [str(order_id) for (order_id,) in rows if order_id in confirmed]
    problems: dict[str, list[str]] = {}
    if sorted(charged) != sorted(confirmed):
        doubled = sorted({o for o in charged if charged.count(o) > 1})
        problems["charges not one per confirmed order"] = listed(
            [f"twice: {o}" for o in doubled] + [f"never: {o}" for o in confirmed - set(charged)]
        )
    twice = database_rows(
        platform, "payments",
        "SELECT payment_id FROM ledger_entries WHERE kind = 'authorize' "
        "GROUP BY payment_id HAVING count(*) > 1",
    )  # fmt: skip
    if twice:
        problems["authorizations in the ledger twice"] = listed(twice)
    return problems


def shopping(
    chaos: Chaos, product: int | None = None, shoppers: int = SHOPPERS
) -> tuple[Shopping, int]:
    """Shoppers for a product of the test's own (or `product`), once the platform is ready."""
    chaos.wait_ready()
    for customer in chaos.customers:  # a checkout the last fault left undone
        empty_cart(chaos.platform, customer)
    if product is None:
        product = new_product(chaos.platform, chaos.admin, STOCK)
    return Shopping(chaos, product, chaos.customers[:shoppers]), STOCK


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll `condition` every 50 ms until it holds, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not after {timeout}s")
        time.sleep(0.05)


def answers(url: str) -> bool:
    """True when `url` answers 200 now."""
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


# -- the faults -----------------------------------------------------------------------------


def test_an_orders_web_worker_killed_mid_checkout(chaos: Chaos) -> None:
    run, stock = shopping(chaos)
    orders = service_url(chaos.platform, "orders")
    with run, run.fault():
        _, before = server_pids(chaos.platform, "orders")
        run.wait_midway("checkout")
        for pid in before:
            os.kill(pid, signal.SIGKILL)
        # Over once its master has started a new worker and it answers.
        wait_until(
            lambda: (
                (now := server_pids(chaos.platform, "orders")[1]) != []
                and not set(now) & set(before)
                and answers(orders + "/livez")
            ),
            "a new orders worker",
        )
    assert_sound(chaos, run, stock)


def test_the_payments_events_worker_killed(chaos: Chaos) -> None:
    run, stock = shopping(chaos)
    with run, run.fault():
        pid = worker_pid(chaos.platform, "payments")
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not process_alive(pid), "the killed worker gone")
        wait_until(
            lambda: worker_pid_or_none(chaos.platform, "payments") not in (None, pid),
            "a new payments worker",
        )
    assert_sound(chaos, run, stock)


def worker_pid_or_none(platform: Platform, service: str) -> int | None:
    """The service's events worker, or None while there is none."""
    try:
        return worker_pid(platform, service)
    except AssertionError:
        return None


def test_catalog_frozen_for_three_seconds(chaos: Chaos) -> None:
    run, stock = shopping(chaos, shoppers=CROWD)
    orders = service_url(chaos.platform, "orders")
    probes: list[Call] = []
    with run, run.fault():
        master, workers = server_pids(chaos.platform, "catalog")
        for pid in (master, *workers):
            os.kill(pid, signal.SIGSTOP)
        try:
            # A frozen neighbour must not take orders' own readiness: a probe with
            # Kubernetes' default 1 s timeout keeps answering.
            until = time.monotonic() + 3.0
            while time.monotonic() < until:
                call, _ = send(run.clock, "orders /readyz",
                               lambda: httpx.get(orders + "/readyz", timeout=1.0))  # fmt: skip
                probes.append(call)
                time.sleep(0.25)
        finally:
            for pid in (master, *workers):
                os.kill(pid, signal.SIGCONT)
    not_ready = [str(p) for p in probes if p.status != 200]
    assert_sound(chaos, run, stock, {"orders not ready while catalog was frozen": not_ready})


def test_postgresql_restarts(chaos: Chaos) -> None:
    run, stock = shopping(chaos)
    with run, run.fault():
        chaos.postgres.stop("fast")  # every session ends, transactions in flight abort
        time.sleep(1.0)
        chaos.postgres.start()
    assert_sound(chaos, run, stock)


def test_redis_loses_its_data(chaos: Chaos) -> None:
    shop = chaos.platform
    # A shopper who logged out: the token must stay refused through the data loss.
    gone = new_customer(shop)
    assert httpx.post(shop.gateway + "/api/auth/logout", headers=gone.headers,
                      timeout=TIMEOUT).status_code == 204  # fmt: skip
    me = [shop.gateway + "/api/users/me", service_url(shop, "users") + "/me"]
    wait_until(lambda: all(httpx.get(u, headers=gone.headers).status_code == 401 for u in me),
               "the logged-out token refused")  # fmt: skip
    revoked: list[Call] = []
    stop_probing = threading.Event()

    def probe() -> None:
        while not stop_probing.wait(0.1):
            for url in me:
                call, _ = send(
                    chaos.clock,
                    "revoked token " + url,
                    lambda u=url: httpx.get(u, headers=gone.headers, timeout=5),
                )
                revoked.append(call)

    prober = threading.Thread(target=probe, daemon=True)
    run, stock = shopping(chaos, chaos.visitor.product)
    with Truth(shop, chaos.clock, run.product) as truth, run:
        prober.start()
        with run.fault():
            chaos.redis.stop()  # no persistence: it comes back empty
            time.sleep(1.0)
            chaos.redis.start()
    stop_probing.set()
    prober.join(TIMEOUT)
    back = run.fault_ended
    assert back is not None

    accepted = [str(call) for call in revoked if call.status == 200]
    stale = []
    for call, shown in chaos.visitor.since(back):
        bound = truth.at_most(call.started - FRESHNESS)
        # None: a page without the stock; -1: a listing from before the product existed.
        if call.status == 200 and (shown is None or shown < 0 or shown > bound):
            stale.append(f"{call} showed {shown}, {FRESHNESS:.0f}s before it at most {bound}")
    after = {u: httpx.get(u, headers=gone.headers, timeout=TIMEOUT).status_code for u in me}
    seen = {
        "revoked token accepted": listed(accepted),
        "revoked token not refused after the shoppers stopped": [
            f"{url}: {status}" for url, status in after.items() if status != 401
        ],
        f"stale reads (older than {FRESHNESS:.0f}s) after Redis came back at {back:.2f}s": listed(
            stale
        ),
    }
    assert_sound(chaos, run, stock, seen)


def test_the_broker_restarts(chaos: Chaos) -> None:
    run, stock = shopping(chaos)
    with run, run.fault():
        chaos.rabbitmq.stop_app()  # down until started again: a few seconds
        chaos.rabbitmq.start_app()
    assert_sound(chaos, run, stock)
