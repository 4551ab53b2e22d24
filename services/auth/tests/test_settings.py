"""Auth's own settings checks: production needs the shop's public origin, never a placeholder."""

from __future__ import annotations

from typing import Any

import pytest

from auth.settings import AuthSettings
from chassis.settings import UnsafeConfiguration

PRODUCTION: dict[str, Any] = {
    "env": "production",
    "secret_key": "p" * 40,
    "jwks_url": "http://auth:8002/.well-known/jwks.json",
}


def test_production_refuses_to_start_without_a_public_origin() -> None:
    with pytest.raises(UnsafeConfiguration, match="set BAZAAR_PUBLIC_ORIGIN"):
        AuthSettings(**PRODUCTION)


@pytest.mark.parametrize(
    "origin",
    [
        "https://bazaar.example.com",
        "https://example.com",
        "https://shop.EXAMPLE.org",
        "https://example.net:8443",
        "https://shop.example",
        "https://set-the-shop-origin.invalid",
    ],
)
def test_production_refuses_a_placeholder_origin(origin: str) -> None:
    with pytest.raises(UnsafeConfiguration, match="is the placeholder"):
        AuthSettings(**PRODUCTION, public_origin=origin)


def test_production_starts_with_a_real_origin_and_derives_the_issuer_from_it() -> None:
    settings = AuthSettings(**PRODUCTION, public_origin="https://shop.myexample.com")

    assert settings.issuer_url == "https://shop.myexample.com/api/auth"


def test_the_environment_sets_it_under_either_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAZAAR_PUBLIC_ORIGIN", "https://shop.bazaar.test")
    assert AuthSettings(**PRODUCTION).public_origin == "https://shop.bazaar.test"
    monkeypatch.setenv("BAZAAR_AUTH_PUBLIC_ORIGIN", "https://auth-only.bazaar.test")
    assert AuthSettings(**PRODUCTION).public_origin == "https://auth-only.bazaar.test"


def test_outside_production_the_local_default_stays() -> None:
    assert AuthSettings(env="development").public_origin == "http://127.0.0.1:8000"
    assert AuthSettings(env="test", public_origin="https://example.com").public_origin
