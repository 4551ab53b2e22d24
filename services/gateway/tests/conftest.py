"""Gateway fixtures: real upstream servers, and the gateway driven in-process with its lifespan.

Everything lives here because the root pytest config imports test files in importlib mode,
where a helper module next to them cannot be imported by name.
"""

from __future__ import annotations

import asyncio
import socket
import socketserver
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    contextmanager,
)
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from gateway import create_app
from gateway.settings import GatewaySettings

# -- upstream servers ------------------------------------------------------------

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

OPENAPI_DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Echo service", "version": "1.0.0"},
    "paths": {
        "/products/{id}": {
            "get": {
                "operationId": "get_product",
                "tags": ["Products"],
                "security": [{"BearerAuth": []}],
                "responses": {
                    "200": {
                        "description": "A product",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ProductRead"}
                            }
                        },
                    },
                    "404": {
                        "description": "Missing",
                        "content": {
                            "application/problem+json": {
                                "schema": {"$ref": "#/components/schemas/Problem"}
                            }
                        },
                    },
                },
            }
        }
    },
    "components": {
        "schemas": {
            "ProductRead": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "price": {"$ref": "#/components/schemas/Money"},
                },
            },
            "Money": {"type": "object", "properties": {"amount": {"type": "integer"}}},
            "Problem": {"type": "object"},
        },
        "securitySchemes": {"BearerAuth": {"type": "http", "scheme": "bearer"}},
    },
}


@dataclass
class UpstreamState:
    """What the echo upstream saw, and how its /openapi.json should behave."""

    paths: list[str] = field(default_factory=list)
    openapi_calls: int = 0
    openapi_failures_left: int = 0
    streams_closed: int = 0
    jwks: dict[str, Any] = field(default_factory=lambda: {"keys": []})
    live: bool = True  # False: /livez answers 503, as a failing health check
    fail_status: int | None = None  # set: every echoed request is answered this problem

    def reset(self) -> None:
        """Forget earlier tests."""
        self.paths.clear()
        self.openapi_calls = self.openapi_failures_left = self.streams_closed = 0
        self.jwks = {"keys": []}
        self.live, self.fail_status = True, None


def echo_app(state: UpstreamState) -> Starlette:
    """An upstream that echoes requests and has endpoints that misbehave on purpose."""

    async def echo(request: Request) -> Response:
        body = await request.body()
        state.paths.append(request.url.path)
        if state.fail_status is not None:
            problem = {
                "type": "/problems/overloaded",
                "title": "Overloaded",
                "status": state.fail_status,
                "detail": f"{request.url.port} is overloaded",
            }
            return JSONResponse(problem, state.fail_status, media_type="application/problem+json")
        return JSONResponse(
            {
                "method": request.method,
                "path": request.url.path,
                "raw_path": request.scope["raw_path"].decode("latin-1"),
                "query": request.scope["query_string"].decode("latin-1"),
                "headers": [
                    [k.decode("latin-1"), v.decode("latin-1")] for k, v in request.scope["headers"]
                ],
                "body": body.decode("latin-1"),
            }
        )

    async def livez(_: Request) -> Response:
        if not state.live:
            return JSONResponse({"status": "failing"}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def openapi(_: Request) -> Response:
        state.openapi_calls += 1
        if state.openapi_failures_left:
            state.openapi_failures_left -= 1
            return JSONResponse({"title": "not yet"}, status_code=500)
        return JSONResponse(OPENAPI_DOCUMENT)

    async def jwks(_: Request) -> Response:
        return JSONResponse(state.jwks)

    async def slow(request: Request) -> Response:
        await asyncio.sleep(float(request.query_params.get("seconds", "1")))
        return JSONResponse({"slept": True})

    async def stream(request: Request) -> Response:
        state.paths.append(request.url.path)
        count = int(request.query_params.get("count", "3"))
        delay = float(request.query_params.get("delay", "0.05"))

        async def events() -> AsyncIterator[bytes]:
            try:
                for number in range(count):
                    yield f"data: {number}\n\n".encode()
                    await asyncio.sleep(delay)
            finally:
                state.streams_closed += 1

        return StreamingResponse(events(), media_type="text/event-stream")

    async def hop_by_hop(_: Request) -> Response:
        return Response(
            b"hop",
            headers={
                "Connection": "X-Connection-Only",
                "X-Connection-Only": "secret",
                "Keep-Alive": "timeout=5",
                "Proxy-Authenticate": "Basic",
                "Trailer": "X-Checksum",
                "Upgrade": "h2c",
                "X-Kept": "yes",
                "Server": "upstream-server/1.0",
            },
        )

    async def problem(_: Request) -> Response:
        return JSONResponse(
            {"type": "/problems/out-of-stock", "title": "Out of stock", "status": 409},
            status_code=409,
            media_type="application/problem+json",
        )

    async def html_error(request: Request) -> Response:
        status = int(request.query_params.get("status", "500"))
        return Response(b"<html>server error page</html>", status, media_type="text/html")

    async def redirect(request: Request) -> Response:
        absolute = request.query_params.get("absolute") == "1"
        target = f"http://{request.headers['host']}/elsewhere" if absolute else "/elsewhere"
        return Response(status_code=303, headers={"Location": target})

    async def self_limited(_: Request) -> Response:
        headers = {"RateLimit-Limit": "99", "RateLimit-Remaining": "98", "RateLimit-Reset": "1"}
        return JSONResponse({"limited": "by the upstream"}, headers=headers)

    async def set_cookies(_: Request) -> Response:
        response = Response(b"cookies")
        response.set_cookie("a", "1")
        response.set_cookie("b", "2")
        return response

    return Starlette(
        routes=[
            Route("/livez", livez),
            Route("/openapi.json", openapi),
            Route("/jwks.json", jwks),
            Route("/slow", slow, methods=ALL_METHODS),
            Route("/stream", stream),
            Route("/hop", hop_by_hop),
            Route("/problem", problem, methods=ALL_METHODS),
            Route("/redirect", redirect),
            Route("/html-error", html_error, methods=ALL_METHODS),
            Route("/cookies", set_cookies),
            Route("/self-limited", self_limited),
            Route("/halfway", HalfwayBody()),
            Route("/headers-only", HeadersOnly()),
            Route("/{path:path}", echo, methods=ALL_METHODS),
        ]
    )


class HeadersOnly:
    """Promises 100 bytes and sends none: a server killed between its headers and its body."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]}
        )


class HalfwayBody:
    """Promises 100 bytes, sends 10, then stops: the connection is dropped mid-body."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]}
        )
        await send({"type": "http.response.body", "body": b"0123456789", "more_body": True})


@contextmanager
def serve_in_thread(app: Any, **config: Any) -> Iterator[str]:
    """Run an ASGI app under uvicorn in a background thread; yield its base URL."""
    options: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "lifespan": "off",
        "log_level": "critical",
        "access_log": False,
        "ws": "none",
        "timeout_graceful_shutdown": 1,
    }
    options.update(config)
    server = uvicorn.Server(uvicorn.Config(app, **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


class _GarbageHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.recv(65536)
        self.request.sendall(b"THIS IS NOT HTTP\r\n\r\n")


@contextmanager
def broken_server() -> Iterator[str]:
    """A TCP server that answers every request with bytes that are not HTTP."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _GarbageHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class HangUpServer(socketserver.ThreadingTCPServer):
    """Answers `/livez`; reads any other request in full, then closes without an answer."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _HangUpHandler)
        self.seen: list[str] = []  # the request lines it hung up on

    @property
    def url(self) -> str:
        """Its base URL."""
        return f"http://127.0.0.1:{self.server_address[1]}"


_LIVE_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


class _HangUpHandler(socketserver.BaseRequestHandler):
    server: HangUpServer

    def handle(self) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.request.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length:
            body += self.request.recv(65536)
        if lines[0].split(b" ")[1] == b"/livez":
            self.request.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            )
            return
        self.server.seen.append(lines[0].decode("latin-1"))


@contextmanager
def hang_up_server() -> Iterator[HangUpServer]:
    """A live instance that takes every request and drops the connection unanswered."""
    server = HangUpServer()
    # A short poll interval: shutdown() waits for the next poll.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def closed_port_url() -> str:
    """A URL on which nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- fixtures --------------------------------------------------------------------

OpenGateway = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def anyio_backend() -> str:
    """The gateway runs on asyncio (uvloop in production)."""
    return "asyncio"


@pytest.fixture(scope="session")
def _upstream_server() -> Iterator[tuple[str, UpstreamState]]:
    state = UpstreamState()
    with serve_in_thread(echo_app(state)) as url:
        yield url, state


@pytest.fixture
def upstream_url(_upstream_server: tuple[str, UpstreamState]) -> str:
    """The base URL of the echoing upstream, live and answering, whatever tests came before."""
    url, state = _upstream_server
    state.reset()
    return url


@pytest.fixture
def upstream_state(_upstream_server: tuple[str, UpstreamState]) -> UpstreamState:
    """What the echoing upstream saw during this test."""
    state = _upstream_server[1]
    state.reset()
    return state


@pytest.fixture(scope="session")
def _second_upstream_server() -> Iterator[tuple[str, UpstreamState]]:
    state = UpstreamState()
    with serve_in_thread(echo_app(state)) as url:
        yield url, state


@pytest.fixture
def second_url(_second_upstream_server: tuple[str, UpstreamState]) -> str:
    """The base URL of a second echoing upstream: another instance of the same service."""
    url, state = _second_upstream_server
    state.reset()
    return url


@pytest.fixture
def second_state(_second_upstream_server: tuple[str, UpstreamState]) -> UpstreamState:
    """What the second echoing upstream saw during this test."""
    state = _second_upstream_server[1]
    state.reset()
    return state


@pytest.fixture(scope="session")
def broken_url() -> Iterator[str]:
    """An upstream that answers with bytes that are not HTTP."""
    with broken_server() as url:
        yield url


@pytest.fixture
def closed_url() -> str:
    """An upstream address that refuses connections."""
    return closed_port_url()


def gateway_settings(**overrides: Any) -> GatewaySettings:
    """Test settings: no verifier unless asked, quiet console logs."""
    values: dict[str, Any] = {
        "env": "test",
        "log_format": "console",
        "log_level": "WARNING",
        "jwt_public_key": None,
        "jwks_url": None,
    }
    values.update(overrides)
    return GatewaySettings(**values)


@pytest.fixture
def open_gateway(upstream_url: str, tmp_path: Path) -> OpenGateway:
    """`async with open_gateway(**settings) as client:` a gateway in its lifespan.

    By default its one upstream, `echo`, is the echoing server; `client_ip` sets the
    address the gateway sees.
    """

    @asynccontextmanager
    async def open_(
        client_ip: str = "203.0.113.7", **overrides: Any
    ) -> AsyncIterator[httpx.AsyncClient]:
        overrides.setdefault("upstreams", {"echo": upstream_url})
        overrides.setdefault("data_dir", tmp_path)
        app = create_app(gateway_settings(**overrides))
        transport = httpx.ASGITransport(app=app, client=(client_ip, 50000))
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://shop.example") as client,
        ):
            yield client

    return open_


@pytest.fixture
def hang_up() -> Iterator[HangUpServer]:
    """An instance that passes health checks and hangs up on every request."""
    with hang_up_server() as server:
        yield server


EchoInstance = Callable[..., AbstractContextManager[tuple[str, UpstreamState]]]


@pytest.fixture
def echo_instance() -> EchoInstance:
    """`with echo_instance(port=...) as (url, state):` an echoing instance of our own.

    Started on a given port it can be stopped and started again at the same address.
    """

    @contextmanager
    def start(port: int = 0) -> Iterator[tuple[str, UpstreamState]]:
        state = UpstreamState()
        with serve_in_thread(echo_app(state), port=port) as url:
            yield url, state

    return start


ServeGateway = Callable[..., AbstractContextManager[str]]


@pytest.fixture
def serve_gateway() -> ServeGateway:
    """`with serve_gateway(**settings) as url:` the gateway under uvicorn, as in production."""

    @contextmanager
    def serve(**overrides: Any) -> Iterator[str]:
        app = create_app(gateway_settings(**overrides))
        with serve_in_thread(app, lifespan="on", loop="uvloop", http="httptools") as url:
            yield url

    return serve


@pytest.fixture
def served_gateway(upstream_url: str) -> Iterator[str]:
    """The gateway under uvicorn with uvloop and httptools, as `bazaar serve` runs it."""
    app = create_app(gateway_settings(upstreams={"echo": upstream_url}))
    with serve_in_thread(app, lifespan="on", loop="uvloop", http="httptools") as url:
        yield url
