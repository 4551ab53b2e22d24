"""Upstreams: readiness and metrics, balancing, health checks, ejection and failover."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    ExitStack,
    asynccontextmanager,
)
from typing import Any

import anyio
import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from chassis.errors import BadGateway, ServiceUnavailable
from chassis.testing import TokenMinter
from gateway.balancing import Health
from gateway.client import ConnectionPool
from gateway.settings import GatewaySettings
from gateway.upstreams import Instance, Upstream, Upstreams

pytestmark = pytest.mark.anyio

OpenGateway = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
EchoInstance = Callable[..., AbstractContextManager[tuple[str, Any]]]
UpstreamState = Any  # the conftest's class; test modules cannot import conftest
HangUpServer = Any


@pytest.fixture
def silent_url() -> Iterator[str]:
    """An upstream that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


async def test_livez_answers_without_asking_upstreams(
    open_gateway: OpenGateway, closed_url: str
) -> None:
    async with open_gateway(upstreams={"down": closed_url}) as client:
        response = await client.get("/livez")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_ok_when_every_upstream_is_live(open_gateway: OpenGateway) -> None:
    async with open_gateway() as client:
        response = await client.get("/readyz")
    assert response.status_code == 200
    report = response.json()
    assert report["status"] == "ok"
    assert report["checks"]["upstream:echo"]["status"] == "ok"
    assert report["checks"]["upstream:echo"]["required"] is False


async def test_readyz_stays_ready_naming_the_upstream_that_is_down(
    open_gateway: OpenGateway, upstream_url: str, closed_url: str
) -> None:
    # ADR 0005: every replica shares the upstream, so unready would take the API offline.
    async with open_gateway(upstreams={"echo": upstream_url, "orders": closed_url}) as client:
        response = await client.get("/readyz")
    assert response.status_code == 200
    report = response.json()
    assert report["status"] == "degraded"
    checks = report["checks"]
    assert checks["upstream:echo"]["status"] == "ok"
    assert checks["upstream:orders"] == {
        "status": "failing",
        "error": "ServiceUnavailable",
        "ms": checks["upstream:orders"]["ms"],
        "required": False,
    }


async def test_readyz_reports_the_shared_stores_when_redis_is_down(
    open_gateway: OpenGateway, token_minter: TokenMinter, closed_url: str
) -> None:
    redis_url = closed_url.replace("http://", "redis://")
    async with open_gateway(redis_url=redis_url, jwt_public_key=token_minter.public_pem) as client:
        response = await client.get("/readyz")
    assert response.status_code == 200
    report = response.json()
    assert report["status"] == "degraded"
    assert report["checks"]["rate-limit-store"]["status"] == "failing"
    assert report["checks"]["revocation-list"]["error"] == "RevocationUnavailable"


async def test_readyz_gives_up_quickly_on_silent_upstreams(
    open_gateway: OpenGateway, silent_url: str
) -> None:
    upstreams = {"a": silent_url, "b": silent_url}
    async with open_gateway(upstreams=upstreams, upstream_read_timeout=30) as client:
        started = time.perf_counter()
        response = await client.get("/readyz")
        elapsed = time.perf_counter() - started
    assert response.status_code == 200
    assert response.json()["checks"]["upstream:a"]["error"] == "GatewayTimeout"
    assert elapsed < 1.5  # both probes run at once, each bounded by the probe timeout


async def test_metrics_label_proxied_requests_by_upstream_route(
    open_gateway: OpenGateway,
) -> None:
    async with open_gateway() as client:
        await client.get("/api/echo/products/1")
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert 'route="/api/echo/{path:path}"' in response.text
    assert 'service="gateway"' in response.text


async def test_clients_exist_only_between_open_and_aclose(upstream_url: str) -> None:
    upstreams = Upstreams(GatewaySettings(upstreams={"echo": upstream_url}))
    with pytest.raises(RuntimeError, match="not open"):
        upstreams["echo"]
    await upstreams.open()
    try:
        async with upstreams["echo"].exchange("GET", b"/livez", replayable=True) as (_, response):
            assert response.status_code == 200
    finally:
        await upstreams.aclose()
    with pytest.raises(RuntimeError, match="not open"):
        upstreams["echo"]


def test_instance_url_keeps_the_raw_path_on_the_instance_host() -> None:
    instance = Instance("a", "http://10.0.0.5:81/base", pool=None, health=Health(2, 2))  # type: ignore[arg-type]
    url = instance.url_for(b"//other.example/x%2Fy?q=1")
    assert url.host == "10.0.0.5"
    assert url.raw_path == b"/base//other.example/x%2Fy?q=1"


# -- several instances ----------------------------------------------------------------

FAST_CHECKS = {"upstream_health_interval": 0.05, "upstream_health_timeout": 0.25}


def metric(text: str, name: str, **labels: str) -> float:
    """One sample's value in a /metrics exposition (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


async def check_status(client: httpx.AsyncClient, name: str) -> str:
    """The status of one entry of the gateway's readiness report."""
    status: str = (await client.get("/readyz")).json()["checks"][name]["status"]
    return status


async def until(client: httpx.AsyncClient, name: str, status: str, timeout: float = 5.0) -> None:
    """Wait until a readiness entry has the status."""
    deadline = time.monotonic() + timeout
    while await check_status(client, name) != status:
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} is not {status} after {timeout}s")
        await anyio.sleep(0.02)


@asynccontextmanager
async def service_of(*urls: str, attempts: int = 3) -> AsyncIterator[Upstream]:
    """A service over instances at these URLs, proven healthy once, without health checks."""
    instances = [Instance("echo", url, ConnectionPool(url), Health(2, 2)) for url in urls]
    for instance in instances:
        instance.health.succeeded()
    try:
        yield Upstream("echo", instances, attempts=attempts)
    finally:
        for instance in instances:
            await instance.pool.aclose()


async def test_requests_are_spread_over_the_instances(
    open_gateway: OpenGateway,
    upstream_url: str,
    upstream_state: UpstreamState,
    second_url: str,
    second_state: UpstreamState,
) -> None:
    async with open_gateway(upstreams={"echo": [upstream_url, second_url]}) as client:
        for _ in range(10):
            assert (await client.get("/api/echo/spread")).status_code == 200
    assert upstream_state.paths.count("/spread") == 5
    assert second_state.paths.count("/spread") == 5


async def test_readyz_lists_each_instance_of_a_service(
    open_gateway: OpenGateway, upstream_url: str, closed_url: str
) -> None:
    async with open_gateway(upstreams={"echo": [upstream_url, closed_url]}) as client:
        report = (await client.get("/readyz")).json()
    assert report["status"] == "degraded"
    checks = report["checks"]
    assert checks["upstream:echo"]["status"] == "ok"  # one instance is enough to serve
    assert checks[f"upstream:echo@{upstream_url}"]["status"] == "ok"
    assert checks[f"upstream:echo@{closed_url}"]["status"] == "failing"
    assert checks[f"upstream:echo@{closed_url}"]["error"] == "ServiceUnavailable"
    assert checks[f"upstream:echo@{closed_url}"]["required"] is False


async def test_an_instance_failing_its_health_checks_is_ejected_then_taken_back(
    open_gateway: OpenGateway,
    upstream_url: str,
    upstream_state: UpstreamState,
    second_url: str,
    second_state: UpstreamState,
) -> None:
    name = f"upstream:echo@{upstream_url}"
    labels = {"upstream": "echo", "endpoint": upstream_url}
    async with open_gateway(
        upstreams={"echo": [upstream_url, second_url]}, **FAST_CHECKS
    ) as client:
        await until(client, name, "ok")
        before = metric(
            (await client.get("/metrics")).text, "gateway_upstream_ejections_total", **labels
        )
        upstream_state.live = False  # its /livez answers 503; requests would still work
        await until(client, name, "failing")
        for _ in range(6):
            assert (await client.get("/api/echo/while-ejected")).status_code == 200
        metrics = (await client.get("/metrics")).text
        assert metric(metrics, "gateway_upstream_ejections_total", **labels) == before + 1
        assert metric(metrics, "gateway_upstream_healthy", **labels) == 0

        upstream_state.live = True
        await until(client, name, "ok")
        for _ in range(4):
            assert (await client.get("/api/echo/taken-back")).status_code == 200
        metrics = (await client.get("/metrics")).text
    assert "/while-ejected" not in upstream_state.paths
    assert second_state.paths.count("/while-ejected") == 6
    assert upstream_state.paths.count("/taken-back") == 2
    assert metric(metrics, "gateway_upstream_healthy", **labels) == 1


async def test_an_instance_that_stops_is_ejected_and_no_request_fails(
    open_gateway: OpenGateway,
    echo_instance: EchoInstance,
    second_url: str,
    second_state: UpstreamState,
) -> None:
    with ExitStack() as stack:
        doomed_url, doomed = stack.enter_context(echo_instance())
        upstreams = {"echo": [doomed_url, second_url]}
        # Probes far apart: whatever ejects the instance here is the requests.
        async with open_gateway(upstreams=upstreams, upstream_health_interval=60) as client:
            assert await check_status(client, f"upstream:echo@{doomed_url}") == "ok"
            stack.close()  # the instance goes away
            statuses = [
                (await client.request(method, "/api/echo/during")).status_code
                for method in ("GET", "POST") * 4
            ]
            report = (await client.get("/readyz")).json()
            metrics = (await client.get("/metrics")).text
    assert statuses == [200] * 8
    assert second_state.paths.count("/during") == 8
    assert doomed.paths == []
    assert report["checks"][f"upstream:echo@{doomed_url}"]["error"] == "ServiceUnavailable"
    labels = {"upstream": "echo", "endpoint": doomed_url}
    assert metric(metrics, "gateway_upstream_ejections_total", **labels) == 1
    assert metric(metrics, "gateway_upstream_attempts_total", outcome="not-sent", **labels) >= 2


async def test_an_instance_that_starts_late_is_taken_in(
    open_gateway: OpenGateway,
    echo_instance: EchoInstance,
    closed_url: str,
    second_url: str,
) -> None:
    late_url = closed_url  # nothing listens there yet
    name = f"upstream:echo@{late_url}"
    async with open_gateway(upstreams={"echo": [late_url, second_url]}, **FAST_CHECKS) as client:
        await until(client, name, "failing")
        with echo_instance(port=httpx.URL(late_url).port) as (_, late):
            await until(client, name, "ok")
            for _ in range(4):
                assert (await client.get("/api/echo/welcome")).status_code == 200
    assert late.paths.count("/welcome") == 2


async def test_when_every_instance_is_ejected_they_are_still_tried(
    open_gateway: OpenGateway,
    upstream_url: str,
    upstream_state: UpstreamState,
    second_url: str,
    second_state: UpstreamState,
) -> None:
    upstream_state.live = second_state.live = False
    async with open_gateway(
        upstreams={"echo": [upstream_url, second_url]}, **FAST_CHECKS
    ) as client:
        await until(client, "upstream:echo", "failing")
        response = await client.get("/api/echo/anyway")
    assert response.status_code == 200
    assert upstream_state.paths + second_state.paths == ["/anyway"]


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH"])
async def test_a_refused_connection_is_tried_on_the_next_instance_whatever_the_method(
    closed_url: str, upstream_url: str, upstream_state: UpstreamState, method: str
) -> None:
    async with (
        service_of(closed_url, upstream_url) as service,
        service.exchange(method, b"/refused", replayable=False) as (instance, response),
    ):
        assert response.status_code == 200
        assert instance.endpoint == upstream_url
    assert upstream_state.paths == ["/refused"]
    assert service.instances[0].health.failures == 1  # counted against the instance
    assert service.instances[0].outstanding == service.instances[1].outstanding == 0


async def test_a_request_that_reached_an_instance_is_replayed_only_when_replayable(
    hang_up: HangUpServer, upstream_url: str, upstream_state: UpstreamState
) -> None:
    async with service_of(hang_up.url, upstream_url) as service:
        with pytest.raises(BadGateway):
            async with service.exchange("POST", b"/once", replayable=False):
                pass
        # The balancer's turn moved on: put the hanging instance first again.
        service.balancer.order(service.instances)
        async with service.exchange("POST", b"/twice", replayable=True) as (instance, response):
            assert response.status_code == 200
            assert instance.endpoint == upstream_url
    assert hang_up.seen == ["POST /once HTTP/1.1", "POST /twice HTTP/1.1"]
    assert upstream_state.paths == ["/twice"]


async def test_a_503_is_tried_on_another_instance_only_when_replayable(
    open_gateway: OpenGateway,
    upstream_url: str,
    upstream_state: UpstreamState,
    second_url: str,
    second_state: UpstreamState,
) -> None:
    upstream_state.fail_status = 503
    port = httpx.URL(upstream_url).port
    async with open_gateway(upstreams={"echo": [upstream_url, second_url]}) as client:
        posted = await client.post("/api/echo/busy")  # first turn: the busy instance
        got = [(await client.get("/api/echo/busy")).status_code for _ in range(2)]
    assert posted.status_code == 503
    assert posted.json()["detail"] == f"{port} is overloaded"  # its own answer, passed on
    assert got == [200, 200]
    assert upstream_state.paths == ["/busy", "/busy"]
    assert second_state.paths == ["/busy", "/busy"]


async def test_a_lone_instance_is_retried_and_its_last_answer_passed_on(
    open_gateway: OpenGateway, upstream_state: UpstreamState
) -> None:
    upstream_state.fail_status = 503
    async with open_gateway() as client:
        response = await client.get("/api/echo/busy")
    assert response.status_code == 503
    assert response.json()["type"] == "/problems/overloaded"
    assert upstream_state.paths == ["/busy"] * 3


async def test_requests_in_flight_steer_the_next_one_elsewhere(
    upstream_url: str, second_url: str
) -> None:
    async with service_of(upstream_url, second_url) as service:
        async with service.exchange("GET", b"/stream?count=2", replayable=True) as (first, _):
            assert first.outstanding == 1
            service.balancer.order(service.instances)  # the turn would come back to `first`
            async with service.exchange("GET", b"/x", replayable=True) as (second, _):
                assert second is not first
        assert first.outstanding == second.outstanding == 0


async def test_a_service_with_every_instance_ejected_gets_one_try_each(closed_url: str) -> None:
    labels = {"upstream": "echo", "endpoint": closed_url, "outcome": "not-sent"}
    before = metric(generate_latest().decode(), "gateway_upstream_attempts_total", **labels)
    async with service_of(closed_url) as service:
        service.instances[0].health.failed()
        service.instances[0].health.failed()
        assert not service.instances[0].health.healthy
        with pytest.raises(ServiceUnavailable):
            async with service.exchange("GET", b"/down", replayable=True):
                pass
    after = metric(generate_latest().decode(), "gateway_upstream_attempts_total", **labels)
    assert after == before + 1  # not three: a service that is down fails fast
