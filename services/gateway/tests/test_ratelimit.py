"""Rate limits at the edge: buckets, headers, stores (memory and Redis), and a dead store."""

from __future__ import annotations

import re
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from chassis.auth import TokenVerifier
from chassis.breaker import CircuitBreaker
from chassis.revocation import (
    KEY_PREFIX,
    RedisRevocationList,
    RevocationUnavailable,
    SqliteRevocationList,
)
from chassis.testing import PrivateRedis, TokenMinter, frozen_address
from gateway.ratelimit import client_key, public_route
from gateway.tokens import GuardedRevocationList

pytestmark = pytest.mark.anyio

OpenGateway = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]

TINY = {"rate_limit_anonymous": "3/minute", "rate_limit_authenticated": "3/minute"}


def quota(response: httpx.Response) -> tuple[int, int, int]:
    """RateLimit-Limit, -Remaining and -Reset of a response."""
    headers = response.headers
    return (
        int(headers["ratelimit-limit"]),
        int(headers["ratelimit-remaining"]),
        int(headers["ratelimit-reset"]),
    )


def assert_too_many(response: httpx.Response, limit: int) -> None:
    """A 429 problem document with Retry-After and an exhausted quota."""
    assert response.status_code == 429
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/too-many-requests"
    assert 1 <= int(response.headers["retry-after"]) <= 120
    assert quota(response)[:2] == (limit, 0)


def degraded_count(metrics: str) -> float:
    """degraded_operations_total for the gateway's rate-limit store, from /metrics text."""
    pattern = (
        r'^degraded_operations_total\{dependency="rate-limit-store",service="gateway"\} (\S+)$'
    )
    found = re.search(pattern, metrics, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own in the test Redis, deleted afterwards."""
    prefix = f"test:ratelimit:{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


# -- buckets and headers -------------------------------------------------------------


async def test_anonymous_calls_are_limited_per_ip_with_headers(
    open_gateway: OpenGateway, upstream_state: Any
) -> None:
    async with open_gateway(**TINY) as client:
        answers = [await client.get(f"/api/echo/products/{n}") for n in range(4)]
        forged = await client.get("/api/echo/products/5", headers={"X-Forwarded-For": "1.2.3.4"})
    assert [r.status_code for r in answers[:3]] == [200, 200, 200]
    assert [quota(r)[:2] for r in answers[:3]] == [(3, 2), (3, 1), (3, 0)]
    assert all(0 < quota(r)[2] <= 120 for r in answers[:3])
    assert_too_many(answers[3], 3)
    # A forged X-Forwarded-For does not buy a new bucket: the gateway is the edge.
    assert_too_many(forged, 3)
    assert upstream_state.paths == ["/products/0", "/products/1", "/products/2"]


async def test_each_ip_has_its_own_bucket(open_gateway: OpenGateway) -> None:
    async with open_gateway(client_ip="198.51.100.1", **TINY) as first:
        statuses = [(await first.get("/api/echo/a")).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    async with open_gateway(client_ip="198.51.100.2", **TINY) as second:
        assert (await second.get("/api/echo/a")).status_code == 200


async def test_users_have_their_own_buckets_apart_from_the_ip(
    open_gateway: OpenGateway, token_minter: TokenMinter
) -> None:
    alice, bob = token_minter.auth("alice"), token_minter.auth("bob")
    async with open_gateway(jwt_public_key=token_minter.public_pem, **TINY) as client:
        alice_calls = [
            (await client.get("/api/echo/me", headers=alice)).status_code for _ in range(4)
        ]
        bob_call = await client.get("/api/echo/me", headers=bob)
        anonymous = [(await client.get("/api/echo/products")).status_code for _ in range(4)]
        # A fresh token of the same user draws from the same bucket.
        alice_again = await client.get("/api/echo/me", headers=token_minter.auth("alice"))
    assert alice_calls == [200, 200, 200, 429]
    assert bob_call.status_code == 200 and quota(bob_call)[:2] == (3, 2)
    assert anonymous == [200, 200, 200, 429]  # the same IP, a bucket of its own
    assert_too_many(alice_again, 3)


async def test_authenticated_limit_is_separate_from_the_anonymous_one(
    open_gateway: OpenGateway, token_minter: TokenMinter
) -> None:
    settings = {"rate_limit_anonymous": "1/minute", "rate_limit_authenticated": "5/minute"}
    async with open_gateway(jwt_public_key=token_minter.public_pem, **settings) as client:
        signed_in = await client.get("/api/echo/me", headers=token_minter.auth())
        anonymous = await client.get("/api/echo/products")
    assert quota(signed_in)[:2] == (5, 4)
    assert quota(anonymous)[:2] == (1, 0)


async def test_invalid_tokens_count_against_the_ip_bucket(
    open_gateway: OpenGateway, token_minter: TokenMinter
) -> None:
    bad = {"Authorization": "Bearer bad.to.ken"}
    async with open_gateway(jwt_public_key=token_minter.public_pem, **TINY) as client:
        refused = await client.get("/api/echo/me", headers=bad)
        anonymous = await client.get("/api/echo/products")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert quota(anonymous)[:2] == (3, 1)  # the bad token took one call of the IP's three


async def test_a_flood_of_bad_tokens_is_throttled_before_any_signature_check(
    open_gateway: OpenGateway, token_minter: TokenMinter, monkeypatch: pytest.MonkeyPatch
) -> None:
    verified: list[str] = []
    original = TokenVerifier.verify

    def counting(self: TokenVerifier, token: str) -> Any:
        verified.append(token)
        return original(self, token)

    monkeypatch.setattr(TokenVerifier, "verify", counting)
    other_key = TokenMinter()  # well-formed tokens, signed by a key the gateway does not trust
    async with open_gateway(jwt_public_key=token_minter.public_pem, **TINY) as client:
        statuses = [
            (await client.get("/api/echo/me", headers=other_key.auth())).status_code
            for _ in range(6)
        ]
        anonymous = await client.get("/api/echo/products")
        signed_in = await client.get("/api/echo/me", headers=token_minter.auth("alice"))
    assert statuses == [401, 401, 401, 429, 429, 429]
    assert len(verified) == 3  # the refused three cost no verification
    assert_too_many(anonymous, 3)  # the flood used up the IP's anonymous bucket
    assert_too_many(signed_in, 3)  # as it does for a valid token from that IP


async def test_expired_tokens_count_against_the_ip_bucket(
    open_gateway: OpenGateway, token_minter: TokenMinter
) -> None:
    expired = {"Authorization": "Bearer " + token_minter.mint("alice", ttl=-120)}
    async with open_gateway(jwt_public_key=token_minter.public_pem, **TINY) as client:
        statuses = [
            (await client.get("/api/echo/me", headers=expired)).status_code for _ in range(4)
        ]
    assert statuses == [401, 401, 401, 429]


async def test_a_flood_of_bad_tokens_is_throttled_in_redis_too(
    open_gateway: OpenGateway, token_minter: TokenMinter, redis_url: str, redis_prefix: str
) -> None:
    settings = {"redis_url": redis_url, "rate_limit_key_prefix": redis_prefix, **TINY}
    bad = {"Authorization": "Bearer bad.to.ken"}
    async with open_gateway(jwt_public_key=token_minter.public_pem, **settings) as client:
        statuses = [(await client.get("/api/echo/me", headers=bad)).status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 429, 429]


# -- strict limits on sign-in and sign-up ---------------------------------------------


async def test_token_endpoint_has_a_strict_limit_per_ip(
    open_gateway: OpenGateway, upstream_url: str, upstream_state: Any
) -> None:
    settings = {
        "upstreams": {"auth": upstream_url, "catalog": upstream_url},
        "rate_limit_strict": {"POST /api/auth/token": "2/minute"},
    }
    async with open_gateway(**settings) as client:
        logins = [
            await client.post("/api/auth/token", data={"grant_type": "password"}) for _ in range(2)
        ]
        # Spellings that reach the same endpoint share the bucket.
        variants = [
            await client.post(path)
            for path in (
                "/api/auth/token/",
                "/api/auth//token",
                "/api/auth/./token",
                "/api/auth/%74oken",
            )
        ]
        other_method = await client.get("/api/auth/token")
        catalog = await client.get("/api/catalog/products")
    assert [r.status_code for r in logins] == [200, 200]
    assert [quota(r)[:2] for r in logins] == [(2, 1), (2, 0)]
    for response in variants:
        assert_too_many(response, 2)
    assert other_method.status_code == 200  # only POST is strict
    assert quota(other_method)[0] == 300  # the anonymous default
    assert quota(catalog)[:2] == (300, 300 - 4)
    assert upstream_state.paths == ["/token", "/token", "/token", "/products"]


async def test_register_has_its_own_strict_bucket(
    open_gateway: OpenGateway, upstream_url: str
) -> None:
    settings = {
        "upstreams": {"auth": upstream_url},
        "rate_limit_strict": {
            "POST /api/auth/token": "1/minute",
            "POST /api/auth/register": "1/minute",
        },
    }
    async with open_gateway(**settings) as client:
        token = [(await client.post("/api/auth/token")).status_code for _ in range(2)]
        register = [(await client.post("/api/auth/register")).status_code for _ in range(2)]
    async with open_gateway(client_ip="198.51.100.9", **settings) as elsewhere:
        other_ip = (await elsewhere.post("/api/auth/token")).status_code
    assert token == [200, 429]
    assert register == [200, 429]
    assert other_ip == 200


async def test_strict_limit_applies_to_signed_in_callers_too(
    open_gateway: OpenGateway, upstream_url: str, token_minter: TokenMinter
) -> None:
    settings = {
        "upstreams": {"auth": upstream_url},
        "rate_limit_strict": {"POST /api/auth/token": "1/minute"},
        "jwt_public_key": token_minter.public_pem,
    }
    async with open_gateway(**settings) as client:
        first = await client.post("/api/auth/token", headers=token_minter.auth("u1"))
        second = await client.post("/api/auth/token", headers=token_minter.auth("u2"))
    assert first.status_code == 200
    assert_too_many(second, 1)


# -- what is and is not limited ------------------------------------------------------------


async def test_operational_and_document_routes_are_not_limited(
    open_gateway: OpenGateway,
) -> None:
    async with open_gateway(rate_limit_anonymous="1/minute") as client:
        for path in ("/livez", "/readyz", "/metrics", "/api/openapi.json", "/api/docs", "/"):
            for _ in range(3):
                response = await client.get(path)
                assert response.status_code == 200, path
                assert "ratelimit-limit" not in response.headers, path


async def test_errors_after_the_limit_carry_the_headers(
    open_gateway: OpenGateway, upstream_url: str, closed_url: str
) -> None:
    upstreams = {"echo": upstream_url, "gone": closed_url}
    async with open_gateway(upstreams=upstreams, **TINY) as client:
        missing = await client.get("/api/echo/livez")  # private: 404 from the gateway
        bare = await client.get("/api/echo/html-error?status=404")
        down = await client.get("/api/gone/anything")
    assert missing.status_code == 404 and quota(missing)[:2] == (3, 2)
    assert bare.status_code == 404 and quota(bare)[:2] == (3, 1)
    assert down.status_code == 503 and quota(down)[:2] == (3, 0)  # the upstream is down


async def test_gateway_headers_replace_the_upstreams_own(open_gateway: OpenGateway) -> None:
    async with open_gateway(**TINY) as client:
        response = await client.get("/api/echo/self-limited")
    assert response.headers.get_list("ratelimit-limit") == ["3"]
    assert response.headers.get_list("ratelimit-remaining") == ["2"]


async def test_limits_can_be_switched_off(open_gateway: OpenGateway) -> None:
    async with open_gateway(rate_limits_enabled=False, rate_limit_anonymous="1/minute") as client:
        statuses = [(await client.get("/api/echo/a")).status_code for _ in range(3)]
        last = await client.get("/api/echo/a")
    assert statuses == [200, 200, 200]
    assert "ratelimit-limit" not in last.headers


def test_client_key_groups_ipv6_by_64_and_unmaps_ipv4() -> None:
    assert client_key(("203.0.113.7", 1)) == "203.0.113.7"
    assert client_key(("2001:db8::1", 1)) == client_key(("2001:db8::ffff:2", 1)) == "2001:db8::/64"
    assert client_key(("2001:db8:0:1::1", 1)) == "2001:db8:0:1::/64"
    assert client_key(("::ffff:203.0.113.7", 1)) == "203.0.113.7"
    assert client_key(None) == "unknown"


def test_public_route_normalises_the_path() -> None:
    for path in (
        "/api/auth/token",
        "/api/auth/token/",
        "//api/auth//token",
        "/api/auth/x/../token",
    ):
        assert public_route("POST", path) == "POST /api/auth/token"


# -- Redis -------------------------------------------------------------------------------------


async def test_redis_store_limits_and_is_shared_by_replicas(
    open_gateway: OpenGateway, redis_url: str, redis_prefix: str
) -> None:
    settings = {"redis_url": redis_url, "rate_limit_key_prefix": redis_prefix, **TINY}
    async with open_gateway(**settings) as replica_a, open_gateway(**settings) as replica_b:
        first = await replica_a.get("/api/echo/a")
        second = await replica_b.get("/api/echo/a")
        third = await replica_a.get("/api/echo/a")
        fourth = await replica_b.get("/api/echo/a")
    assert [quota(r)[:2] for r in (first, second, third)] == [(3, 2), (3, 1), (3, 0)]
    assert all(0 < quota(r)[2] <= 60 for r in (first, second, third))
    assert_too_many(fourth, 3)
    keys = redis.Redis.from_url(redis_url).keys(f"{redis_prefix}:*")
    assert keys  # the counters live under this test's prefix only


async def test_redis_store_keeps_users_apart(
    open_gateway: OpenGateway, redis_url: str, redis_prefix: str, token_minter: TokenMinter
) -> None:
    settings = {
        "redis_url": redis_url,
        "rate_limit_key_prefix": redis_prefix,
        "jwt_public_key": token_minter.public_pem,
        "rate_limit_authenticated": "1/minute",
        "rate_limit_anonymous": "1/minute",
    }
    async with open_gateway(**settings) as client:
        alice = [
            (await client.get("/api/echo/me", headers=token_minter.auth("a"))).status_code
            for _ in range(2)
        ]
        bob = (await client.get("/api/echo/me", headers=token_minter.auth("b"))).status_code
        anonymous = (await client.get("/api/echo/products")).status_code
    assert alice == [200, 429]
    assert bob == 200
    assert anonymous == 200


# -- a dead store -------------------------------------------------------------------------------


async def test_dead_redis_serves_catalog_unlimited_and_refuses_auth(
    open_gateway: OpenGateway, upstream_url: str, upstream_state: Any, closed_url: str
) -> None:
    upstreams = {"catalog": upstream_url, "auth": upstream_url, "users": upstream_url}
    dead = closed_url.replace("http://", "redis://")
    async with open_gateway(upstreams=upstreams, redis_url=dead, **TINY) as client:
        before = degraded_count((await client.get("/metrics")).text)
        catalog = [await client.get("/api/catalog/products") for _ in range(5)]
        users = await client.get("/api/users/me")
        login = await client.post("/api/auth/token")
        after = degraded_count((await client.get("/metrics")).text)
    assert [r.status_code for r in catalog] == [200] * 5  # over the tiny limit: not counted
    assert all("ratelimit-limit" not in r.headers for r in catalog)
    assert users.status_code == 200
    assert login.status_code == 503
    assert login.headers["content-type"] == "application/problem+json"
    assert login.json()["type"] == "/problems/service-unavailable"
    assert int(login.headers["retry-after"]) > 0
    assert after - before == 6
    assert "/token" not in upstream_state.paths


async def test_silent_redis_costs_one_timeout_then_nothing(
    open_gateway: OpenGateway, silent_redis_url: str
) -> None:
    settings = {"redis_url": silent_redis_url, "rate_limit_redis_timeout": 0.1}
    async with open_gateway(**settings) as client:
        started = time.perf_counter()
        first = [await client.get("/api/echo/a") for _ in range(3)]  # open the breaker
        opened = time.perf_counter()
        rest = [await client.get("/api/echo/a") for _ in range(20)]
        finished = time.perf_counter()
    assert all(r.status_code == 200 for r in first + rest)
    assert opened - started < 1.5  # three timeouts of 0.1 s, not seconds each
    assert finished - opened < 1.0  # twenty calls that never wait for Redis (2 s if they did)


@pytest.fixture
def silent_redis_url() -> Iterator[str]:
    """A Redis address that accepts connections and never answers."""
    with frozen_address() as (host, port):
        yield f"redis://{host}:{port}/0"


# -- revoked tokens -----------------------------------------------------------------------------


async def test_token_revoked_in_the_local_list_is_refused(
    open_gateway: OpenGateway, token_minter: TokenMinter, tmp_path: Path, upstream_state: Any
) -> None:
    jti = uuid.uuid4().hex
    SqliteRevocationList(tmp_path / "revocations.db").revoke(jti, int(time.time()) + 900)
    settings = {"jwt_public_key": token_minter.public_pem, "data_dir": tmp_path}
    async with open_gateway(**settings) as client:
        revoked = await client.get("/api/echo/me", headers=token_minter.auth(jti=jti))
        other = await client.get("/api/echo/me", headers=token_minter.auth())
    assert revoked.status_code == 401
    assert revoked.json()["detail"] == "The token has been revoked."
    assert 'error="invalid_token"' in revoked.headers["www-authenticate"]
    assert other.status_code == 200
    assert upstream_state.paths == ["/me"]


async def test_token_revoked_in_redis_is_refused(
    open_gateway: OpenGateway, token_minter: TokenMinter, redis_url: str, redis_prefix: str
) -> None:
    jti = uuid.uuid4().hex
    RedisRevocationList(redis_url).revoke(jti, int(time.time()) + 60)
    settings = {
        "jwt_public_key": token_minter.public_pem,
        "redis_url": redis_url,
        "rate_limit_key_prefix": redis_prefix,
    }
    try:
        async with open_gateway(**settings) as client:
            revoked = await client.get("/api/echo/me", headers=token_minter.auth(jti=jti))
            other = await client.get("/api/echo/me", headers=token_minter.auth())
    finally:
        redis.Redis.from_url(redis_url).delete(KEY_PREFIX + jti)
    assert revoked.status_code == 401
    assert other.status_code == 200


async def test_dead_revocation_store_answers_503_for_tokens_only(
    open_gateway: OpenGateway,
    token_minter: TokenMinter,
    upstream_url: str,
    upstream_state: Any,
    closed_url: str,
) -> None:
    settings = {
        "upstreams": {"catalog": upstream_url},
        "jwt_public_key": token_minter.public_pem,
        "redis_url": closed_url.replace("http://", "redis://"),
    }
    async with open_gateway(**settings) as client:
        signed_in = [
            await client.get("/api/catalog/me", headers=token_minter.auth()) for _ in range(5)
        ]
        anonymous = await client.get("/api/catalog/products")
    for response in signed_in:
        assert response.status_code == 503
        assert response.json()["type"] == "/problems/service-unavailable"
    assert anonymous.status_code == 200
    assert upstream_state.paths == ["/products"]


async def test_a_redis_that_lost_the_revocation_list_refuses_tokens_until_auth_refills_it(
    open_gateway: OpenGateway, token_minter: TokenMinter, private_redis: PrivateRedis
) -> None:
    settings = {"jwt_public_key": token_minter.public_pem, "redis_url": private_redis.url}
    async with open_gateway(**settings) as client:
        # An empty Redis (restarted, or flushed): no marker, so nobody knows what was revoked.
        unknown = [await client.get("/api/echo/me", headers=token_minter.auth()) for _ in range(5)]
        anonymous = await client.get("/api/echo/products")
        RedisRevocationList(private_redis.url).fill([])  # what auth's watcher does
        refilled = await client.get("/api/echo/me", headers=token_minter.auth())
    assert [r.status_code for r in unknown] == [503] * 5
    assert all(r.json()["type"] == "/problems/service-unavailable" for r in unknown)
    assert anonymous.status_code == 200
    # The store answered all along: its breaker stayed closed, so the refill counts at once.
    assert refilled.status_code == 200


def test_revocation_breaker_stops_asking_a_dead_store() -> None:
    calls = 0

    class DeadStore:
        def revoke(self, jti: str, expires_at: int) -> None:
            raise RevocationUnavailable("down")

        def is_revoked(self, jti: str) -> bool:
            nonlocal calls
            calls += 1
            raise RevocationUnavailable("down")

    guarded = GuardedRevocationList(DeadStore(), CircuitBreaker(fail_max=2, reset_seconds=60))
    for _ in range(5):
        with pytest.raises(RevocationUnavailable):
            guarded.is_revoked("jti")
    assert calls == 2


def test_revocation_guard_turns_sqlite_errors_into_unavailable() -> None:
    class LockedFile:
        def revoke(self, jti: str, expires_at: int) -> None:
            raise sqlite3.OperationalError("database is locked")

        def is_revoked(self, jti: str) -> bool:
            raise sqlite3.OperationalError("database is locked")

    with pytest.raises(RevocationUnavailable, match="locked"):
        GuardedRevocationList(LockedFile()).is_revoked("jti")


# -- the stores keep `limits`' arithmetic and keys ------------------------------------------


async def test_memory_windows_count_as_limits_memory_storage_does() -> None:
    from limits import parse
    from limits.aio.storage import MemoryStorage
    from limits.aio.strategies import SlidingWindowCounterRateLimiter

    from gateway.ratelimit import MemoryWindows, _quota

    item = parse("3/minute")
    reference = SlidingWindowCounterRateLimiter(MemoryStorage())
    ours = MemoryWindows()
    key = item.key_for("ip", "203.0.113.7")
    for _ in range(5):
        expected = await reference.hit(item, "ip", "203.0.113.7")
        stats = await reference.get_window_stats(item, "ip", "203.0.113.7")
        allowed, window = await ours.hit(key, item.amount, item.get_expiry())
        assert allowed == expected
        assert _quota(item, window).remaining == stats.remaining


async def test_redis_windows_share_the_counters_of_limits_redis_storage(
    redis_url: str, redis_prefix: str
) -> None:
    import redis.asyncio
    from limits import parse
    from limits.aio.storage import RedisStorage
    from limits.aio.strategies import SlidingWindowCounterRateLimiter

    from gateway.ratelimit import RedisWindows, _quota

    item = parse("3/minute")
    pool = redis.asyncio.ConnectionPool.from_url(redis_url)
    storage = RedisStorage(
        "async+redis://", implementation="redispy", key_prefix=redis_prefix, connection_pool=pool
    )
    reference = SlidingWindowCounterRateLimiter(storage)
    ours = RedisWindows(pool, redis_prefix)
    key = item.key_for("ip", "203.0.113.7")
    try:
        # A gateway of the previous version and one of this version, side by side.
        assert await reference.hit(item, "ip", "203.0.113.7")
        allowed, window = await ours.hit(key, item.amount, item.get_expiry())
        assert allowed and _quota(item, window).remaining == 1
        assert await reference.hit(item, "ip", "203.0.113.7")
        allowed, window = await ours.hit(key, item.amount, item.get_expiry())
        assert not allowed and _quota(item, window).remaining == 0
        assert not await reference.hit(item, "ip", "203.0.113.7")
    finally:
        await pool.aclose()
