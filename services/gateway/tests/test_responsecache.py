"""The gateway's response cache: anonymous GETs answered at the edge, on both stores."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chassis.cache import CACHE_LOOKUPS, Cache, RedisBackend, shared_backend
from chassis.testing import PrivateRedis
from gateway import create_app
from gateway.responsecache import canonical_target, storable

from .conftest import gateway_settings, serve_in_thread

pytestmark = pytest.mark.anyio
PUBLIC = "public, max-age=0, must-revalidate"


@dataclass
class Shop:
    """A stand-in for a cacheable service: counts what reaches it."""

    hits: list[str] = field(default_factory=list)
    version: int = 1
    delay: float = 0.0

    def app(self) -> Starlette:
        """Public, private, cookie-setting and failing endpoints."""

        async def products(request: Request) -> Response:
            self.hits.append(str(request.url.path) + "?" + request.url.query)
            await anyio.sleep(self.delay)
            body = f'{{"version": {self.version}, "query": "{request.url.query}"}}'.encode()
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            return Response(
                body,
                media_type="application/json",
                headers={"Cache-Control": PUBLIC, "ETag": etag, "Vary": "Authorization"},
            )

        async def private(request: Request) -> Response:
            self.hits.append(request.url.path)
            return JSONResponse({"mine": True}, headers={"Cache-Control": "private, no-cache"})

        async def cookie(request: Request) -> Response:
            self.hits.append(request.url.path)
            response = JSONResponse({"cookie": True}, headers={"Cache-Control": PUBLIC})
            response.set_cookie("session", "x")
            return response

        async def missing(request: Request) -> Response:
            self.hits.append(request.url.path)
            return JSONResponse(
                {"type": "/problems/not-found", "title": "Not found", "status": 404},
                status_code=404,
                media_type="application/problem+json",
                headers={"Cache-Control": PUBLIC},
            )

        async def livez(_: Request) -> Response:
            return JSONResponse({"status": "ok"})

        return Starlette(
            routes=[
                Route("/livez", livez),
                Route("/products", products),
                Route("/products/{id}", products),
                Route("/private", private),
                Route("/cookie", cookie),
                Route("/missing", missing),
            ]
        )


@pytest.fixture
def shop() -> Iterator[tuple[Shop, str]]:
    """The stand-in service, served on a port of its own."""
    stand_in = Shop()
    with serve_in_thread(stand_in.app()) as url:
        yield stand_in, url


@pytest.fixture(params=["local", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """Settings for each shared store: the local folder, and a real Redis."""
    options: dict[str, Any] = {
        "data_dir": tmp_path,
        "broker_namespace": "t" + uuid.uuid4().hex[:10],
        "cached_services": frozenset({"shop"}),
    }
    if request.param == "redis":
        options["redis_url"] = request.getfixturevalue("redis_url")
    return options


@asynccontextmanager
async def gateway(url: str, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A gateway in its lifespan with the stand-in as the `shop` upstream."""
    settings = gateway_settings(upstreams={"shop": url}, **overrides)
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 50000))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://shop.example") as client,
    ):
        yield client


def owner_cache(options: dict[str, Any]) -> Cache:
    """The shop's own view of its cache, as the service that bumps generations."""
    settings = gateway_settings(upstreams={"shop": "http://127.0.0.1:1"}, **options)
    return Cache(
        shared_backend(settings),
        owner="shop",
        service="shop",
        namespace=settings.broker_namespace,
    )


async def test_a_second_anonymous_get_is_answered_without_the_upstream(
    shop: tuple[Shop, str], store: dict[str, Any]
) -> None:
    stand_in, url = shop
    async with gateway(url, **store) as client:
        first = await client.get("/api/shop/products?limit=5")
        second = await client.get("/api/shop/products?limit=5")
    assert first.status_code == second.status_code == 200
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("miss", "hit")
    assert first.content == second.content
    assert second.headers["etag"] == first.headers["etag"]
    assert second.headers["cache-control"] == PUBLIC
    assert second.headers["content-type"] == "application/json"
    assert second.headers["x-request-id"]
    assert stand_in.hits == ["/products?limit=5"]


async def test_another_gateway_process_reads_the_shared_store(
    shop: tuple[Shop, str], store: dict[str, Any]
) -> None:
    stand_in, url = shop
    async with gateway(url, **store) as client:
        await client.get("/api/shop/products")
    async with gateway(url, **store) as other:  # empty memory: the shared store answers
        assert (await other.get("/api/shop/products")).headers["x-cache"] == "hit"
    assert len(stand_in.hits) == 1


async def test_if_none_match_is_answered_304_at_the_edge(
    shop: tuple[Shop, str], store: dict[str, Any]
) -> None:
    stand_in, url = shop
    async with gateway(url, **store) as client:
        etag = (await client.get("/api/shop/products")).headers["etag"]
        conditional = await client.get("/api/shop/products", headers={"If-None-Match": etag})
        other = await client.get("/api/shop/products", headers={"If-None-Match": '"stale"'})
    assert conditional.status_code == 304
    assert conditional.content == b""
    assert conditional.headers["etag"] == etag
    assert other.status_code == 200
    assert len(stand_in.hits) == 1


async def test_a_cold_conditional_request_still_stores_the_full_answer(
    shop: tuple[Shop, str], store: dict[str, Any]
) -> None:
    stand_in, url = shop
    async with gateway(url, **store) as client:
        first = await client.get("/api/shop/products", headers={"If-None-Match": '"old"'})
        assert first.status_code == 200
        assert (await client.get("/api/shop/products")).headers["x-cache"] == "hit"
    assert len(stand_in.hits) == 1


async def test_head_is_served_from_the_cache_without_a_body(
    shop: tuple[Shop, str], store: dict[str, Any]
) -> None:
    stand_in, url = shop
    async with gateway(url, **store) as client:
        full = await client.get("/api/shop/products")
        head = await client.head("/api/shop/products")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(full.content))
    assert len(stand_in.hits) == 1


async def test_requests_with_credentials_are_never_served_or_stored(
    shop: tuple[Shop, str], store: dict[str, Any]
) -> None:
    stand_in, url = shop
    async with gateway(url, **store) as client:
        for _ in range(2):
            response = await client.get(
                "/api/shop/products", headers={"Authorization": "Basic dXNlcjpwYXNz"}
            )
            assert "x-cache" not in response.headers
        assert (await client.get("/api/shop/products")).headers["x-cache"] == "miss"
    assert len(stand_in.hits) == 3


@pytest.mark.parametrize("path", ["/private", "/cookie", "/missing"])
async def test_answers_not_marked_public_or_not_200_are_not_stored(
    shop: tuple[Shop, str], store: dict[str, Any], path: str
) -> None:
    stand_in, url = shop
    async with gateway(url, **store) as client:
        statuses = [(await client.get("/api/shop" + path)).status_code for _ in range(2)]
    assert statuses[0] == statuses[1]
    assert stand_in.hits == [path, path]


async def test_services_not_listed_are_passed_through(
    shop: tuple[Shop, str], tmp_path: Path
) -> None:
    stand_in, url = shop
    async with gateway(url, data_dir=tmp_path, cached_services=frozenset()) as client:
        await client.get("/api/shop/products")
        response = await client.get("/api/shop/products")
    assert "x-cache" not in response.headers
    assert len(stand_in.hits) == 2


async def test_the_services_generation_bump_reaches_the_edge(
    shop: tuple[Shop, str], store: dict[str, Any]
) -> None:
    stand_in, url = shop
    async with gateway(url, **store) as client:
        assert (await client.get("/api/shop/products")).json()["version"] == 1
        stand_in.version = 2
        owner_cache(store).bump("public")
        deadline = time.monotonic() + 1.0
        seen = 1
        while seen == 1 and time.monotonic() < deadline:
            seen = (await client.get("/api/shop/products")).json()["version"]
            await anyio.sleep(0.02)
    assert seen == 2


async def test_parameter_order_does_not_split_entries(
    shop: tuple[Shop, str], store: dict[str, Any]
) -> None:
    stand_in, url = shop
    async with gateway(url, **store) as client:
        await client.get("/api/shop/products?sort=name&limit=5")
        response = await client.get("/api/shop/products?limit=5&sort=name")
    assert response.headers["x-cache"] == "hit"
    assert len(stand_in.hits) == 1


async def test_concurrent_misses_in_one_process_fetch_once(
    shop: tuple[Shop, str], store: dict[str, Any]
) -> None:
    stand_in, url = shop
    stand_in.delay = 0.1
    results: list[int] = []
    async with gateway(url, **store) as client:

        async def read() -> None:
            results.append((await client.get("/api/shop/products/7")).status_code)

        async with anyio.create_task_group() as tasks:
            for _ in range(32):
                tasks.start_soon(read)
    assert results == [200] * 32
    assert len(stand_in.hits) == 1


async def test_a_redis_outage_passes_requests_through_and_caching_resumes(
    shop: tuple[Shop, str], tmp_path: Path
) -> None:
    from chassis.registry import free_port

    _, url = shop
    server = PrivateRedis(free_port())
    server.start()
    options = {
        "data_dir": tmp_path,
        "redis_url": server.url,
        "broker_namespace": "t" + uuid.uuid4().hex[:10],
        "cached_services": frozenset({"shop"}),
        "rate_limits_enabled": False,
    }
    try:
        async with gateway(url, **options) as client:
            assert (await client.get("/api/shop/products")).headers["x-cache"] == "miss"
            server.stop()
            await anyio.sleep(0.15)  # past the generation's memory in this process
            before = CACHE_LOOKUPS.labels("gateway", "shop", "unavailable")._value.get()
            for _ in range(5):
                response = await client.get("/api/shop/products?outage=1")
                assert response.status_code == 200
                assert "x-cache" not in response.headers
            errors = (await client.get("/metrics")).text
            assert 'cache_errors_total{cache="shop",service="gateway"}' in errors
            after = CACHE_LOOKUPS.labels("gateway", "shop", "unavailable")._value.get()
            assert after - before == 5
            assert 'cache_lookups_total{cache="shop",outcome="unavailable",service="gateway"}' in (
                errors
            )
            server.start()
            outcomes: list[str] = []
            deadline = time.monotonic() + 6
            while outcomes[-2:] != ["miss", "hit"] and time.monotonic() < deadline:
                response = await client.get("/api/shop/products?after=1")
                outcomes.append(response.headers.get("x-cache", "none"))
                await anyio.sleep(0.1)
            assert outcomes[-2:] == ["miss", "hit"]
    finally:
        server.stop()
        backend = shared_backend(gateway_settings(**options))
        if isinstance(backend, RedisBackend):
            backend.close()


def private_store(server: PrivateRedis, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    """Settings on a Redis of the test's own, which the test may flush."""
    return {
        "data_dir": tmp_path,
        "redis_url": server.url,
        "broker_namespace": "t" + uuid.uuid4().hex[:10],
        "cached_services": frozenset({"shop"}),
        "rate_limits_enabled": False,
        **extra,
    }


async def test_after_redis_loses_its_data_no_old_page_comes_back(
    shop: tuple[Shop, str], tmp_path: Path, private_redis: PrivateRedis
) -> None:
    stand_in, url = shop
    options = private_store(private_redis, tmp_path)
    owner = owner_cache(options)
    async with gateway(url, **options) as client:
        assert (await client.get("/api/shop/products")).json()["version"] == 1
        stand_in.version = 2
        owner.bump("public")
        await anyio.sleep(0.15)  # past the generation's memory in this process
        assert (await client.get("/api/shop/products")).json()["version"] == 2
        redis.Redis.from_url(private_redis.url).flushall()  # the private server only
        await anyio.sleep(0.15)
        assert (await client.get("/api/shop/products")).json()["version"] == 2


async def test_pages_in_memory_expire_even_when_the_generation_stays(
    shop: tuple[Shop, str], tmp_path: Path, private_redis: PrivateRedis
) -> None:
    stand_in, url = shop
    options = private_store(private_redis, tmp_path, cache_local_ttl=0.5)
    async with gateway(url, **options) as client:
        await client.get("/api/shop/products")
        assert (await client.get("/api/shop/products")).headers["x-cache"] == "hit"
        server = redis.Redis.from_url(private_redis.url)
        generations = {k: server.get(k) for k in server.keys("*:generation")}
        server.flushall()  # the entry is gone from the shared store...
        for key, value in generations.items():
            server.set(key, value)  # ...while the generation reads as before
        stand_in.version = 2
        await anyio.sleep(0.6)
        response = await client.get("/api/shop/products")
    assert response.json()["version"] == 2
    assert len(stand_in.hits) == 2


def test_targets_are_canonical_whatever_the_parameter_order() -> None:
    assert canonical_target(b"/p?b=2&a=1") == canonical_target(b"/p?a=1&b=2") == "/p?a=1&b=2"
    assert canonical_target(b"/p") == "/p?"
    assert canonical_target(b"/p?q=a%20b") == canonical_target(b"/p?q=a+b")


def test_only_complete_public_200s_without_cookies_are_storable() -> None:
    public = [(b"cache-control", b"public, max-age=0")]
    assert storable(200, public, 10)
    assert not storable(200, public, None)  # streamed: no length
    assert not storable(200, public, 2 * 1024 * 1024)
    assert not storable(404, public, 10)
    assert not storable(200, [(b"cache-control", b"private")], 10)
    assert not storable(200, [(b"cache-control", b"public, no-store")], 10)
    assert not storable(200, [], 10)
    assert not storable(200, [*public, (b"set-cookie", b"a=1")], 10)
