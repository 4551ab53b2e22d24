"""Demo accounts: created once with profiles, never in production, announced in development."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest

from auth.seed import DEMO_ACCOUNTS, SeedRefused, announce_demo_accounts, seed_demo_accounts
from auth.settings import AuthSettings

from .conftest import AppFactory, log_in, make_settings
from .users_standin import UsersStandIn


def test_seed_creates_the_demo_accounts_and_their_profiles_once(
    fresh_url: str, tmp_path: Path, users: UsersStandIn, make_fresh_app: AppFactory
) -> None:
    settings = make_settings(fresh_url, tmp_path, users_url=users.url)

    assert seed_demo_accounts(settings) == 2
    assert seed_demo_accounts(settings) == 0

    assert sorted((p["email"], p["role"]) for p in users.profiles.values()) == [
        ("admin@bazaar.test", "admin"),
        ("customer@bazaar.test", "customer"),
    ]
    client = make_fresh_app().test_client()
    for email, password, _, roles in DEMO_ACCOUNTS:
        response = log_in(client, email, password)
        assert response.status_code == 200, response.get_data(as_text=True)
        claims = jwt.decode(
            response.get_json()["access_token"], options={"verify_signature": False}
        )
        assert claims["roles"] == list(roles)


def test_seed_refuses_production(tmp_path: Path) -> None:
    production = AuthSettings(
        env="production",
        secret_key="p" * 40,
        jwks_url="http://127.0.0.1:8002/.well-known/jwks.json",
        public_origin="http://127.0.0.1:8000",
        database_url=f"sqlite:///{tmp_path / 'never.db'}",
    )
    with pytest.raises(SeedRefused, match="production"):
        seed_demo_accounts(production)
    assert not (tmp_path / "never.db").exists()


def test_seed_with_users_down_keeps_nothing(
    fresh_url: str, tmp_path: Path, users: UsersStandIn
) -> None:
    settings = make_settings(fresh_url, tmp_path, users_url=users.url)
    users.available = False
    with pytest.raises(Exception, match="unavailable"):
        seed_demo_accounts(settings)

    users.available = True
    assert seed_demo_accounts(settings) == 2


def test_demo_passwords_are_announced_only_in_development() -> None:
    lines = announce_demo_accounts(AuthSettings(env="development"))
    assert any("customer@bazaar.test" in line and "demo-customer-pass" in line for line in lines)
    assert any("admin@bazaar.test" in line and "demo-admin-password" in line for line in lines)
    assert announce_demo_accounts(AuthSettings(env="test")) == []
