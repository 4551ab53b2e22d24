"""Operator commands through click: create-admin, create-client, keys rotate."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import jwt
import pytest
from click.testing import CliRunner, Result

from auth.commands import auth_group, keys_group, users_group
from auth.service import SERVICE, platform_env
from auth.settings import AuthSettings

from .conftest import FAST_ARGON2, AppFactory, log_in, problem_of
from .users_standin import UsersStandIn

ADMIN_PASSWORD = "an admin passphrase"


@pytest.fixture
def environment(fresh_url: str, tmp_path: Path, users: UsersStandIn) -> dict[str, str]:
    """The environment an operator's shell would have: the service's database and users."""
    env = {
        "BAZAAR_ENV": "test",
        "BAZAAR_DATA_DIR": str(tmp_path),
        "BAZAAR_AUTH_DATABASE_URL": fresh_url,
        "BAZAAR_AUTH_USERS_URL": users.url,
    }
    env.update({f"BAZAAR_AUTH_{name.upper()}": str(value) for name, value in FAST_ARGON2.items()})
    return env


def run(group: object, args: list[str], env: dict[str, str], stdin: str | None = None) -> Result:
    """Invoke a command group as `bazaar <group> ...` would."""
    return CliRunner().invoke(group, args, env=env, input=stdin)  # type: ignore[arg-type]


def test_create_admin_prompts_for_the_password_and_creates_the_profile(
    environment: dict[str, str], users: UsersStandIn, make_fresh_app: AppFactory
) -> None:
    result = run(
        users_group,
        ["create-admin", " Root@Example.com "],
        environment,
        stdin=f"{ADMIN_PASSWORD}\n{ADMIN_PASSWORD}\n",
    )

    assert result.exit_code == 0, result.output
    assert "admin root@example.com created" in result.output
    assert ADMIN_PASSWORD not in result.output  # the prompt hides it
    (profile,) = users.profiles.values()
    assert (profile["email"], profile["role"]) == ("root@example.com", "admin")
    response = log_in(make_fresh_app().test_client(), "root@example.com", ADMIN_PASSWORD)
    claims = jwt.decode(response.get_json()["access_token"], options={"verify_signature": False})
    assert claims["roles"] == ["admin"]
    assert claims["sub"] == profile["id"]


def test_create_admin_takes_the_password_as_an_option(environment: dict[str, str]) -> None:
    result = run(
        users_group, ["create-admin", "root@example.com", "--password", ADMIN_PASSWORD], environment
    )
    assert result.exit_code == 0, result.output


def test_create_admin_refuses_a_weak_password(
    environment: dict[str, str], users: UsersStandIn
) -> None:
    result = run(
        users_group, ["create-admin", "root@example.com", "--password", "password1234"], environment
    )

    assert result.exit_code == 1
    assert "too common" in result.output
    assert users.profiles == {}


def test_create_admin_with_users_down_stores_nothing(
    environment: dict[str, str], users: UsersStandIn, make_fresh_app: AppFactory
) -> None:
    users.available = False
    failed = run(
        users_group, ["create-admin", "root@example.com", "--password", ADMIN_PASSWORD], environment
    )
    assert failed.exit_code == 1
    assert "unavailable" in failed.output

    users.available = True
    problem_of(log_in(make_fresh_app().test_client(), "root@example.com", ADMIN_PASSWORD), 400)


def test_create_client_prints_a_secret_that_works_once_stored(
    environment: dict[str, str], make_fresh_app: AppFactory
) -> None:
    result = run(
        auth_group,
        ["create-client", "orders", "--scope", "users:write", "--scope", "catalog:read"],
        environment,
    )

    assert result.exit_code == 0, result.output
    found = re.search(r"client_secret: (\S+)", result.output)
    assert found is not None
    basic = base64.b64encode(f"orders:{found.group(1)}".encode()).decode()
    response = (
        make_fresh_app()
        .test_client()
        .post(
            "/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {basic}"},
        )
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["scope"] == "users:write catalog:read"


def test_create_client_refuses_a_taken_or_bad_name(environment: dict[str, str]) -> None:
    assert run(auth_group, ["create-client", "orders", "--scope", "a"], environment).exit_code == 0
    again = run(auth_group, ["create-client", "orders", "--scope", "a"], environment)
    reserved = run(auth_group, ["create-client", "auth", "--scope", "a"], environment)

    assert again.exit_code == 1 and "exists" in again.output
    assert reserved.exit_code == 1


def test_keys_rotate_adds_a_key_to_each_line_and_retires_the_old_ones(
    environment: dict[str, str], make_fresh_app: AppFactory
) -> None:
    app = make_fresh_app()
    client = app.test_client()
    before = {
        key["alg"]: key["kid"] for key in client.get("/.well-known/jwks.json").get_json()["keys"]
    }

    result = run(keys_group, ["rotate"], environment)

    assert result.exit_code == 0, result.output
    new = dict(re.findall(r"new (EdDSA|RS256) signing key: (\S+)", result.output))
    assert set(new) == {"EdDSA", "RS256"}
    for alg in ("EdDSA", "RS256"):
        assert f"retired: {before[alg]} (signs until" in result.output
    published = [key["kid"] for key in client.get("/.well-known/jwks.json").get_json()["keys"]]
    assert sorted(published) == sorted([*new.values(), *before.values()])
    listed = run(keys_group, ["list"], environment)
    assert all(kid in listed.output for kid in published)
    assert "RS256" in listed.output and "EdDSA" in listed.output

    only = run(keys_group, ["rotate", "--alg", "RS256"], environment)

    assert only.exit_code == 0, only.output
    assert "new RS256 signing key" in only.output and "EdDSA" not in only.output


def test_service_spec_wires_commands_seed_and_platform_env() -> None:
    assert {group.name for group in SERVICE.commands} == {"auth", "keys", "users"}
    assert SERVICE.start_order == 20
    assert SERVICE.seed is not None and SERVICE.announce is not None
    assert platform_env(AuthSettings()) == {
        "BAZAAR_JWKS_URL": "http://127.0.0.1:8002/.well-known/jwks.json"
    }
