"""The proxy against real upstream servers: what is forwarded, what is stripped, what fails how."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any

import anyio
import httpx
import pytest

from gateway.proxy import is_replayable

pytestmark = pytest.mark.anyio

OpenGateway = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def header_values(echoed: dict[str, Any], name: str) -> list[str]:
    """Every value the upstream received for a header."""
    return [value for key, value in echoed["headers"] if key == name]


# -- forwarding ---------------------------------------------------------------------


async def test_forwards_method_path_query_and_body(open_gateway: OpenGateway) -> None:
    async with open_gateway() as client:
        response = await client.post(
            "/api/echo/products/42?sort=price&tag=a&tag=b",
            content=b'{"name": "lamp"}',
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 200
    echoed = response.json()
    assert echoed["method"] == "POST"
    assert echoed["path"] == "/products/42"
    assert echoed["query"] == "sort=price&tag=a&tag=b"
    assert echoed["body"] == '{"name": "lamp"}'
    assert header_values(echoed, "content-type") == ["application/json"]
    assert header_values(echoed, "content-length") == ["16"]


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "OPTIONS"])
async def test_forwards_every_method(open_gateway: OpenGateway, method: str) -> None:
    async with open_gateway() as client:
        response = await client.request(method, "/api/echo/anything")
    assert response.status_code == 200
    assert response.json()["method"] == method


async def test_head_is_forwarded_without_a_body(open_gateway: OpenGateway) -> None:
    async with open_gateway() as client:
        response = await client.head("/api/echo/anything")
    assert response.status_code == 200
    assert response.content == b""
    assert int(response.headers["content-length"]) > 0


async def test_keeps_percent_encoded_path_as_sent(open_gateway: OpenGateway) -> None:
    async with open_gateway() as client:
        response = await client.get("/api/echo/files/a%2Fb%20c")
    assert response.json()["raw_path"] == "/files/a%2Fb%20c"


async def test_double_slash_path_stays_on_the_upstream(open_gateway: OpenGateway) -> None:
    async with open_gateway() as client:
        response = await client.get("/api/echo//evil.example/x")
    assert response.status_code == 200
    assert response.json()["raw_path"] == "//evil.example/x"


async def test_trailing_slash_maps_to_upstream_root(open_gateway: OpenGateway) -> None:
    async with open_gateway() as client:
        response = await client.get("/api/echo/")
    assert response.json()["path"] == "/"


async def test_the_bare_service_path_is_the_upstream_root_not_a_redirect(
    open_gateway: OpenGateway,
) -> None:
    async with open_gateway() as client:
        posted = await client.post("/api/echo", json={"a": 1})
        listed = await client.get("/api/echo?limit=2")
    assert posted.status_code == 200
    assert posted.json()["path"] == "/"
    assert listed.json()["raw_path"] == "/"
    assert listed.json()["path"] == "/"


async def test_upstream_problem_passes_through_unchanged(open_gateway: OpenGateway) -> None:
    async with open_gateway() as client:
        response = await client.post("/api/echo/problem")
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "/problems/out-of-stock",
        "title": "Out of stock",
        "status": 409,
    }


@pytest.mark.parametrize("status", [400, 414, 500])
async def test_bare_upstream_error_pages_become_problems(
    open_gateway: OpenGateway, status: int
) -> None:
    async with open_gateway() as client:
        response = await client.post(f"/api/echo/html-error?status={status}")
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == status
    assert "without a problem document" in response.json()["detail"]


async def test_repeated_response_headers_are_kept(open_gateway: OpenGateway) -> None:
    async with open_gateway() as client:
        response = await client.get("/api/echo/cookies")
    assert len(response.headers.get_list("set-cookie")) == 2


async def test_cookies_set_for_one_client_never_reach_another(open_gateway: OpenGateway) -> None:
    async with open_gateway() as client:
        await client.get("/api/echo/cookies")
        client.cookies.clear()
        response = await client.get("/api/echo/x")
        mine = await client.get("/api/echo/x", headers={"Cookie": "session=mine"})
    assert header_values(response.json(), "cookie") == []
    assert header_values(mine.json(), "cookie") == ["session=mine"]


@pytest.mark.parametrize("absolute", ["0", "1"])
async def test_location_is_rewritten_into_the_gateway_url_space(
    open_gateway: OpenGateway, absolute: str
) -> None:
    async with open_gateway() as client:
        response = await client.get(f"/api/echo/redirect?absolute={absolute}")
    assert response.status_code == 303
    assert response.headers["location"] == "/api/echo/elsewhere"


async def test_accept_encoding_defaults_to_identity(open_gateway: OpenGateway) -> None:
    async with open_gateway() as client:
        plain = await client.get("/api/echo/x", headers={"Accept-Encoding": ""})
        client.headers.pop("Accept-Encoding")
        bare = await client.get("/api/echo/x")
        gzip = await client.get("/api/echo/x", headers={"Accept-Encoding": "gzip"})
    assert header_values(plain.json(), "accept-encoding") == [""]
    assert header_values(bare.json(), "accept-encoding") == ["identity"]
    assert header_values(gzip.json(), "accept-encoding") == ["gzip"]


# -- headers ------------------------------------------------------------------------


async def test_strips_hop_by_hop_and_host_from_the_request(open_gateway: OpenGateway) -> None:
    async with open_gateway() as client:
        response = await client.get(
            "/api/echo/x",
            headers={
                "Connection": "keep-alive, X-Hop-Only",
                "X-Hop-Only": "1",
                "Keep-Alive": "timeout=5",
                "TE": "trailers",
                "Trailer": "X-Checksum",
                "Upgrade": "websocket",
                "Proxy-Authorization": "Basic c2VjcmV0",
                "X-Kept": "yes",
            },
        )
    echoed = response.json()
    received = {name for name, _ in echoed["headers"]}
    for name in ("x-hop-only", "keep-alive", "te", "trailer", "upgrade", "proxy-authorization"):
        assert name not in received, name
    # The gateway's own hop has its own Connection header, naming nothing of the client's.
    assert header_values(echoed, "connection") == ["keep-alive"]
    assert header_values(echoed, "x-kept") == ["yes"]
    # The Host the upstream sees is its own, not the gateway's.
    assert header_values(echoed, "host") != ["shop.example"]


async def test_strips_hop_by_hop_from_the_response(open_gateway: OpenGateway) -> None:
    async with open_gateway() as client:
        response = await client.get("/api/echo/hop")
    assert response.text == "hop"
    for name in (
        "connection", "x-connection-only", "keep-alive", "proxy-authenticate", "trailer",
        "upgrade", "server",
    ):  # fmt: skip
        assert name not in response.headers, name
    assert response.headers["x-kept"] == "yes"


async def test_adds_x_forwarded_headers_and_replaces_client_ones(
    open_gateway: OpenGateway,
) -> None:
    async with open_gateway() as client:
        response = await client.get(
            "/api/echo/x",
            headers={
                "X-Forwarded-For": "10.0.0.1",
                "X-Forwarded-Host": "forged.example",
                "Forwarded": "for=10.0.0.1",
                "X-Forwarded-Prefix": "/forged",
            },
        )
    echoed = response.json()
    assert header_values(echoed, "x-forwarded-prefix") == ["/api/echo"]
    assert header_values(echoed, "x-forwarded-for") == ["203.0.113.7"]
    assert header_values(echoed, "x-forwarded-proto") == ["http"]
    assert header_values(echoed, "x-forwarded-host") == ["shop.example"]
    assert header_values(echoed, "forwarded") == []


async def test_strips_client_identity_headers(open_gateway: OpenGateway) -> None:
    async with open_gateway() as client:
        response = await client.get(
            "/api/echo/x",
            headers={"X-User-Id": "admin", "X-User-Roles": "admin", "X-Auth-Subject": "root"},
        )
    received = {name for name, _ in response.json()["headers"]}
    assert not {"x-user-id", "x-user-roles", "x-auth-subject"} & received


async def test_request_id_is_generated_and_reaches_the_upstream(
    open_gateway: OpenGateway,
) -> None:
    async with open_gateway() as client:
        response = await client.get("/api/echo/x")
    request_id = response.headers["x-request-id"]
    assert len(request_id) == 32
    assert header_values(response.json(), "x-request-id") == [request_id]


async def test_sane_client_request_id_is_kept_end_to_end(open_gateway: OpenGateway) -> None:
    async with open_gateway() as client:
        response = await client.get("/api/echo/x", headers={"X-Request-ID": "trace-abc.123"})
    assert response.headers["x-request-id"] == "trace-abc.123"
    assert header_values(response.json(), "x-request-id") == ["trace-abc.123"]


async def test_unsafe_client_request_id_is_replaced(open_gateway: OpenGateway) -> None:
    async with open_gateway() as client:
        response = await client.get("/api/echo/x", headers={"X-Request-ID": "bad id<script>"})
    request_id = response.headers["x-request-id"]
    assert request_id != "bad id<script>"
    assert header_values(response.json(), "x-request-id") == [request_id]


# -- refusals at the edge -----------------------------------------------------------


async def test_declared_big_body_is_refused_before_the_upstream(
    open_gateway: OpenGateway, upstream_state: Any
) -> None:
    async with open_gateway(max_body_bytes=1024) as client:
        response = await client.post("/api/echo/upload-declared", content=b"x" * 1025)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/payload-too-large"
    assert "/upload-declared" not in upstream_state.paths


async def test_streamed_big_body_without_length_is_refused(
    open_gateway: OpenGateway, upstream_state: Any
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 100

    async with open_gateway(max_body_bytes=1024) as client:
        response = await client.post("/api/echo/upload-chunked", content=chunks())
    assert response.status_code == 413
    assert "/upload-chunked" not in upstream_state.paths


async def test_body_at_the_limit_is_forwarded(open_gateway: OpenGateway) -> None:
    async with open_gateway(max_body_bytes=1024) as client:
        response = await client.put("/api/echo/upload", content=b"x" * 1024)
    assert response.status_code == 200
    assert len(response.json()["body"]) == 1024


async def test_default_body_limit_is_one_mebibyte(open_gateway: OpenGateway) -> None:
    async with open_gateway() as client:
        response = await client.post("/api/echo/upload", content=b"x" * (1024 * 1024 + 1))
    assert response.status_code == 413


async def test_over_long_path_and_query_is_a_414_problem_before_the_upstream(
    open_gateway: OpenGateway, upstream_state: Any
) -> None:
    async with open_gateway() as client:
        fits = await client.get("/api/echo/long", params={"q": "a" * 3900})
        too_long = await client.get("/api/echo/too-long", params={"q": "a" * 4000})
    assert fits.status_code == 200
    assert too_long.status_code == 414
    assert too_long.headers["content-type"] == "application/problem+json"
    assert too_long.json()["type"] == "/problems/uri-too-long"
    assert "/too-long" not in upstream_state.paths


async def test_unknown_service_is_a_404_problem(open_gateway: OpenGateway) -> None:
    async with open_gateway() as client:
        response = await client.get("/api/nowhere/products")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "nowhere" in response.json()["detail"]


@pytest.mark.parametrize(
    "path",
    ["/api/echo/metrics", "/api/echo/readyz", "/api/echo//livez", "/api/echo/a/%2e%2e/metrics"],
)
async def test_service_operational_endpoints_are_not_public(
    open_gateway: OpenGateway, upstream_state: Any, path: str
) -> None:
    async with open_gateway() as client:
        response = await client.get(path)
    assert response.status_code == 404
    assert upstream_state.paths == []


async def test_trace_is_not_proxied(open_gateway: OpenGateway) -> None:
    async with open_gateway() as client:
        response = await client.request("TRACE", "/api/echo/x")
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"


# -- upstream failures --------------------------------------------------------------


async def test_refused_connection_is_a_503_problem(
    open_gateway: OpenGateway, closed_url: str
) -> None:
    async with open_gateway(upstreams={"down": closed_url}) as client:
        response = await client.get("/api/down/products")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/service-unavailable"


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_slow_upstream_is_a_504_problem(open_gateway: OpenGateway, method: str) -> None:
    async with open_gateway(upstream_read_timeout=0.2) as client:
        started = time.perf_counter()
        response = await client.request(method, "/api/echo/slow?seconds=1")
    assert response.status_code == 504
    assert response.json()["type"] == "/problems/gateway-timeout"
    if method == "POST":  # not idempotent: one attempt only
        assert time.perf_counter() - started < 0.8


async def test_garbage_from_upstream_is_a_502_problem(
    open_gateway: OpenGateway, broken_url: str
) -> None:
    async with open_gateway(upstreams={"broken": broken_url}) as client:
        response = await client.post("/api/broken/orders")
    assert response.status_code == 502
    assert response.json()["type"] == "/problems/bad-gateway"


# -- streaming, through a real server -------------------------------------------------


async def test_streams_events_as_they_arrive(served_gateway: str) -> None:
    arrivals: list[float] = []
    async with (
        httpx.AsyncClient(base_url=served_gateway) as client,
        client.stream("GET", "/api/echo/stream?count=3&delay=0.3") as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        body = b""
        async for chunk in response.aiter_raw():
            arrivals.append(time.perf_counter())
            body += chunk
    assert body == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
    # Chunks arrive spread over the upstream's delays, not all at the end.
    assert arrivals[-1] - arrivals[0] > 0.4


async def test_client_leaving_a_stream_closes_the_upstream_stream(
    served_gateway: str, upstream_state: Any
) -> None:
    async with (
        httpx.AsyncClient(base_url=served_gateway) as client,
        client.stream("GET", "/api/echo/stream?count=1000&delay=0.05") as response,
    ):
        async for _ in response.aiter_raw():
            break
    deadline = time.monotonic() + 5
    while upstream_state.streams_closed == 0 and time.monotonic() < deadline:
        await anyio.sleep(0.05)
    assert upstream_state.streams_closed == 1


async def test_upstream_breaking_mid_body_breaks_the_client_response(served_gateway: str) -> None:
    async with httpx.AsyncClient(base_url=served_gateway) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get("/api/echo/halfway")


async def test_upstream_dying_before_its_body_is_a_502_the_client_may_retry(
    served_gateway: str,
) -> None:
    async with httpx.AsyncClient(base_url=served_gateway) as client:
        response = await client.get("/api/echo/headers-only")
    assert response.status_code == 502
    assert response.headers["content-type"] == "application/problem+json"


# -- several instances ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "headers", "status"),
    [
        ("POST", {}, 502),
        ("PATCH", {}, 502),
        ("POST", {"Idempotency-Key": "4f1c2a"}, 200),
        ("PATCH", {"Idempotency-Key": "4f1c2a"}, 200),
        ("GET", {}, 200),
        ("PUT", {}, 200),
        ("DELETE", {}, 200),
    ],
)
async def test_only_replayable_requests_go_to_another_instance_once_sent(
    open_gateway: OpenGateway,
    hang_up: Any,
    upstream_url: str,
    upstream_state: Any,
    method: str,
    headers: dict[str, str],
    status: int,
) -> None:
    # The first request of a fresh gateway goes to the first instance: the one hanging up.
    async with open_gateway(upstreams={"echo": [hang_up.url, upstream_url]}) as client:
        response = await client.request(method, "/api/echo/pay", headers=headers, content=b"{}")
    assert response.status_code == status
    assert hang_up.seen == [f"{method} /pay HTTP/1.1"]  # it did get the bytes
    assert upstream_state.paths == ([] if status == 502 else ["/pay"])


@pytest.mark.parametrize(
    ("method", "headers", "replayable"),
    [
        ("GET", [], True),
        ("HEAD", [], True),
        ("OPTIONS", [], True),
        ("PUT", [], True),
        ("DELETE", [], True),
        ("POST", [], False),
        ("PATCH", [], False),
        ("POST", [(b"idempotency-key", b"k")], True),
        ("PATCH", [(b"idempotency-key", b"k")], True),
        ("POST", [(b"x-idempotency", b"k")], False),
    ],
)
def test_which_requests_are_replayable(
    method: str, headers: list[tuple[bytes, bytes]], replayable: bool
) -> None:
    assert is_replayable(method, headers) is replayable


async def test_event_streams_are_spread_over_instances_and_still_stream(
    serve_gateway: Callable[..., AbstractContextManager[str]],
    upstream_url: str,
    upstream_state: Any,
    second_url: str,
    second_state: Any,
) -> None:
    async def listen(client: httpx.AsyncClient, arrivals: list[float]) -> bytes:
        body = b""
        async with client.stream("GET", "/api/echo/stream?count=3&delay=0.3") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            async for chunk in response.aiter_raw():
                arrivals.append(time.perf_counter())
                body += chunk
        return body

    first: list[float] = []
    second: list[float] = []
    with serve_gateway(upstreams={"echo": [upstream_url, second_url]}) as url:
        async with httpx.AsyncClient(base_url=url) as client, anyio.create_task_group() as tasks:
            bodies: list[bytes] = []

            async def run(arrivals: list[float]) -> None:
                bodies.append(await listen(client, arrivals))

            tasks.start_soon(run, first)
            await anyio.sleep(0.1)  # the first stream is open, and counted, before the second
            tasks.start_soon(run, second)
    assert bodies == [b"data: 0\n\ndata: 1\n\ndata: 2\n\n"] * 2
    for arrivals in (first, second):
        assert arrivals[-1] - arrivals[0] > 0.4  # spread over the upstream's delays
    # While one stream is open on an instance, the next goes to the other.
    assert upstream_state.paths == second_state.paths == ["/stream"]
