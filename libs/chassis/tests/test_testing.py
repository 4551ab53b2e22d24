"""The pytest plugin every service uses: token minter, backend skips, throwaway databases."""

from __future__ import annotations

import os

import jwt
import pytest
from sqlalchemy import create_engine, text

from chassis.auth import ACCESS_TOKEN_TYPE
from chassis.testing import (
    DEFAULT_POSTGRES,
    POSTGRES_ENV,
    TokenMinter,
    backend_missing,
    fresh_postgres_database,
    in_ci,
)


def test_minted_tokens_carry_the_claims_and_header_services_expect(
    token_minter: TokenMinter,
) -> None:
    token = token_minter.mint("user-5", roles=("admin",), scopes=("a", "b"), ttl=60, tenant="t1")

    header = jwt.get_unverified_header(token)
    claims = jwt.decode(
        token, token_minter.public_pem, algorithms=["EdDSA"], audience=token_minter.audience
    )
    assert header["typ"] == ACCESS_TOKEN_TYPE
    assert header["kid"] == token_minter.kid
    assert claims["sub"] == "user-5"
    assert claims["roles"] == ["admin"]
    assert claims["scope"] == "a b"
    assert claims["exp"] - claims["iat"] == 60
    assert claims["tenant"] == "t1"


def test_auth_builds_a_bearer_header(token_minter: TokenMinter) -> None:
    header = token_minter.auth("user-5")["Authorization"]

    assert header.startswith("Bearer ")
    assert (
        jwt.decode(
            header.removeprefix("Bearer "),
            token_minter.public_pem,
            algorithms=["EdDSA"],
            audience="bazaar",
        )["sub"]
        == "user-5"
    )


def test_each_minter_has_its_own_key() -> None:
    assert TokenMinter().public_pem != TokenMinter().public_pem


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("1", True), ("", False)])
def test_in_ci_reads_the_ci_variable(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: bool
) -> None:
    monkeypatch.setenv("CI", value)

    assert in_ci() is expected


def test_backend_missing_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)

    with pytest.raises(pytest.skip.Exception, match="Redis is not reachable"):
        backend_missing("Redis", "Start it.")


def test_backend_missing_fails_on_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")

    with pytest.raises(pytest.fail.Exception, match="CI=true and Redis is not reachable"):
        backend_missing("Redis", "Start it.")


def test_fresh_postgres_database_is_empty_and_dropped_afterwards() -> None:
    with fresh_postgres_database("chassis_plugin") as url:
        engine = create_engine(url)
        with engine.connect() as connection:
            name = connection.execute(text("SELECT current_database()")).scalar_one()
            tables = connection.execute(
                text("SELECT count(*) FROM information_schema.tables WHERE table_schema='public'")
            ).scalar_one()
        engine.dispose()

    assert name.startswith("chassis_plugin_")
    assert tables == 0
    admin = create_engine(os.environ.get(POSTGRES_ENV, DEFAULT_POSTGRES))
    with admin.connect() as connection:
        exists = connection.execute(
            text("SELECT count(*) FROM pg_database WHERE datname = :n"), {"n": name}
        ).scalar_one()
    admin.dispose()
    assert exists == 0
