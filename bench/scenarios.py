"""What wrk drives in each phase: the platform without caches, then with them."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx

from bench import wrk
from bench.lock import measuring
from bench.report import Row


@dataclass(frozen=True)
class Scenario:
    """One URL under wrk, and how hard to drive it."""

    key: str
    name: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    connections: int | None = None  # None: the run's default
    threads: int | None = None


@dataclass(frozen=True)
class Urls:
    """Where each scenario points, for one running platform."""

    gateway: str
    catalog: str
    hello: str
    detail_id: int
    deep_cursor: str
    depth: int
    search: str


def uncached(urls: Urls, bearer: str) -> list[Scenario]:
    """Scenarios run with BAZAAR_CACHE_ENABLED=false: every request reaches the database."""
    gateway, catalog = urls.gateway + "/api/catalog", urls.catalog
    detail = f"/products/{urls.detail_id}"
    return [
        Scenario("list_gateway", "product list, through gateway", gateway + "/products"),
        Scenario("list_direct", "product list (keyset page 1), direct", catalog + "/products"),
        Scenario(
            "keyset_deep",
            f"keyset page at depth {urls.depth:,}, direct",
            f"{catalog}/products?cursor={urls.deep_cursor}",
        ),
        Scenario("detail_direct", "product detail, direct", catalog + detail),
        Scenario("detail_gateway", "product detail, through gateway", gateway + detail),
        Scenario(
            "search",
            f"search q={urls.search}, through gateway",
            f"{gateway}/products?q={urls.search}",
        ),
        Scenario(
            "users_me",
            "GET /api/users/me with a bearer token, through gateway",
            urls.gateway + "/api/users/me",
            headers={"Authorization": "Bearer " + bearer},
        ),
        Scenario(
            "one_direct",
            "product detail at 1 connection, direct",
            catalog + detail,
            connections=1,
            threads=1,
        ),
        Scenario(
            "one_gateway",
            "product detail at 1 connection, through gateway",
            gateway + detail,
            connections=1,
            threads=1,
        ),
    ]


def cached(urls: Urls) -> list[Scenario]:
    """Scenarios run with caches on (the default), next to the hello-world ceiling."""
    gateway, catalog = urls.gateway + "/api/catalog", urls.catalog
    detail = f"/products/{urls.detail_id}"
    return [
        Scenario("hello", "hello-world ceiling (Flask, same gunicorn settings)", urls.hello),
        Scenario("list_gateway", "product list, through gateway", gateway + "/products"),
        Scenario("list_direct", "product list, direct", catalog + "/products"),
        Scenario("detail_direct", "product detail, direct", catalog + detail),
        Scenario("detail_gateway", "product detail, through gateway", gateway + detail),
    ]


def preflight(scenario: Scenario) -> str:
    """What the URL answered when that is not 200 (shown in the report); empty when 200."""
    try:
        response = httpx.get(scenario.url, headers=dict(scenario.headers), timeout=10)
    except httpx.HTTPError as exc:
        return f"preflight failed: {type(exc).__name__}"
    if response.status_code == 200:
        return ""
    return f"preflight answered {response.status_code}: {response.text[:200]}"


def measure(wrk_bin: str, scenario: Scenario, load: wrk.Load, cache: str, lock: Path | None) -> Row:
    """Warm up, then measure one scenario under the bench lock."""
    load = replace(
        load,
        connections=scenario.connections or load.connections,
        threads=scenario.threads or load.threads,
    )
    print(
        f"  {scenario.name} (cache {cache}, {load.connections} connections) ...",
        file=sys.stderr,
        flush=True,
    )
    problem = preflight(scenario)
    if problem:
        print(f"    {problem}", file=sys.stderr)
    with measuring(lock):
        result = wrk.run(wrk_bin, scenario.url, load, headers=scenario.headers)
    print(
        f"    {result.requests_per_second:,.0f} req/s, p50 {result.p50_ms:.2f} ms, "
        f"p99 {result.p99_ms:.2f} ms, {result.errors} errors {result.error_summary()}",
        file=sys.stderr,
    )
    return Row(
        key=scenario.key,
        name=scenario.name,
        cache=cache,
        rate=result.requests_per_second,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        errors=result.errors,
        note=problem[:80],
        error_kinds=result.error_summary(),
    )
