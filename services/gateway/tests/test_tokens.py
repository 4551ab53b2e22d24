"""Bearer tokens checked at the edge: bad ones never reach an upstream, good ones pass as sent."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt.algorithms import OKPAlgorithm

from chassis.testing import TokenMinter

pytestmark = pytest.mark.anyio

OpenGateway = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def received_authorization(response: httpx.Response) -> list[str]:
    """The Authorization values the echoing upstream received."""
    return [value for name, value in response.json()["headers"] if name == "authorization"]


def unsigned_token(minter: TokenMinter) -> str:
    """A token with `alg: none`, otherwise well formed."""
    claims = jwt.decode(minter.mint(), options={"verify_signature": False})
    return jwt.encode(claims, key=None, algorithm="none", headers={"typ": "at+jwt"})


def hs256_token(minter: TokenMinter) -> str:
    """A token signed with a shared secret instead of the auth service's private key."""
    claims = jwt.decode(minter.mint(), options={"verify_signature": False})
    secret = "a-shared-secret-that-is-long-enough-for-hs256"
    return jwt.encode(claims, secret, algorithm="HS256", headers={"typ": "at+jwt"})


BAD_TOKENS: dict[str, Callable[[TokenMinter], str]] = {
    "expired": lambda m: m.mint(ttl=-300),
    "wrong-audience": lambda m: m.mint(aud="someone-else"),
    "wrong-issuer": lambda m: m.mint(iss="https://evil.example"),
    "alg-none": unsigned_token,
    "hs256": hs256_token,
    "not-an-access-token": lambda m: m.mint(headers={"typ": "JWT"}),
    "signed-by-another-key": lambda _: TokenMinter().mint(),
    "garbage": lambda _: "not.a.token",
}


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
async def test_bad_token_is_refused_with_401_before_the_upstream(
    open_gateway: OpenGateway, token_minter: TokenMinter, upstream_state: Any, kind: str
) -> None:
    token = BAD_TOKENS[kind](token_minter)
    async with open_gateway(jwt_public_key=token_minter.public_pem) as client:
        response = await client.get(
            f"/api/echo/orders-{kind}", headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/unauthorized"
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ") and 'error="invalid_token"' in challenge
    assert upstream_state.paths == []


async def test_empty_bearer_is_refused(
    open_gateway: OpenGateway, token_minter: TokenMinter, upstream_state: Any
) -> None:
    async with open_gateway(jwt_public_key=token_minter.public_pem) as client:
        response = await client.get("/api/echo/orders", headers={"Authorization": "Bearer "})
    assert response.status_code == 401
    assert upstream_state.paths == []


async def test_valid_token_is_forwarded_unchanged(
    open_gateway: OpenGateway, token_minter: TokenMinter
) -> None:
    header = f"Bearer {token_minter.mint('user-7', roles=('customer',))}"
    async with open_gateway(jwt_public_key=token_minter.public_pem) as client:
        response = await client.get("/api/echo/orders", headers={"Authorization": header})
    assert response.status_code == 200
    assert received_authorization(response) == [header]


async def test_valid_token_verifies_against_a_jwks_url(
    open_gateway: OpenGateway, token_minter: TokenMinter, upstream_url: str, upstream_state: Any
) -> None:
    public_key = load_pem_public_key(token_minter.public_pem.encode())
    jwk = json.loads(OKPAlgorithm.to_jwk(public_key))
    upstream_state.jwks = {"keys": [{**jwk, "kid": token_minter.kid, "use": "sig"}]}
    header = f"Bearer {token_minter.mint()}"
    async with open_gateway(jwks_url=f"{upstream_url}/jwks.json") as client:
        good = await client.get("/api/echo/orders", headers={"Authorization": header})
        bad = await client.get(
            "/api/echo/orders", headers={"Authorization": f"Bearer {TokenMinter().mint()}"}
        )
    assert good.status_code == 200
    assert bad.status_code == 401


async def test_without_a_configured_key_tokens_pass_untouched(
    open_gateway: OpenGateway, token_minter: TokenMinter
) -> None:
    header = f"Bearer {token_minter.mint(ttl=-300)}"
    async with open_gateway() as client:
        response = await client.get("/api/echo/orders", headers={"Authorization": header})
    assert response.status_code == 200
    assert received_authorization(response) == [header]


async def test_other_schemes_are_left_to_the_services(
    open_gateway: OpenGateway, token_minter: TokenMinter
) -> None:
    async with open_gateway(jwt_public_key=token_minter.public_pem) as client:
        response = await client.get("/api/echo/x", headers={"Authorization": "Basic dTpw"})
    assert response.status_code == 200
    assert received_authorization(response) == ["Basic dTpw"]


async def test_two_authorization_headers_are_refused(
    open_gateway: OpenGateway, token_minter: TokenMinter, upstream_state: Any
) -> None:
    good = f"Bearer {token_minter.mint()}"
    async with open_gateway(jwt_public_key=token_minter.public_pem) as client:
        response = await client.get(
            "/api/echo/x", headers=[("Authorization", good), ("Authorization", "Bearer other")]
        )
    assert response.status_code == 400
    assert upstream_state.paths == []
