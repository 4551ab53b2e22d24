"""ServiceSettings: prefixes, defaults, and what production refuses."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chassis.settings import DEVELOPMENT_SECRET, ServiceSettings, UnsafeConfiguration, environment

GOOD_SECRET = "a-long-random-production-secret-0123456789"


class ShopSettings(ServiceSettings):
    """A service's settings, as a service would declare them."""

    service_name = "shop"
    default_port = 8123


def test_service_prefix_beats_shared_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAZAAR_PORT", "9000")
    monkeypatch.setenv("BAZAAR_SHOP_PORT", "9001")
    monkeypatch.setenv("BAZAAR_LOG_LEVEL", "DEBUG")

    settings = ShopSettings()

    assert settings.port == 9001
    assert settings.log_level == "DEBUG"


def test_shared_prefix_applies_when_no_service_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAZAAR_PORT", "9000")

    assert ShopSettings().port == 9000


def test_another_services_prefix_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAZAAR_CATALOG_PORT", "9002")

    assert ShopSettings().port == 8123


def test_default_port_and_base_url() -> None:
    settings = ShopSettings()

    assert settings.port == 8123
    assert settings.base_url == "http://127.0.0.1:8123"


def test_default_database_url_lives_under_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BAZAAR_DATA_DIR", str(tmp_path))

    settings = ShopSettings()

    assert settings.data_dir == tmp_path
    assert settings.database_url == f"sqlite:///{tmp_path / 'shop.db'}"


def test_default_database_url_without_data_dir_is_under_var() -> None:
    assert ShopSettings().database_url == "sqlite:///var/shop.db"


def test_explicit_database_url_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAZAAR_SHOP_DATABASE_URL", "postgresql+psycopg://db/shop")

    assert ShopSettings().database_url == "postgresql+psycopg://db/shop"


def test_init_arguments_beat_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAZAAR_SHOP_PORT", "9001")

    assert ShopSettings(port=7000).port == 7000


def test_development_accepts_the_default_secret() -> None:
    settings = ShopSettings()

    assert settings.env == "development"
    assert settings.secret_key.get_secret_value() == DEVELOPMENT_SECRET


def test_production_refuses_the_default_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAZAAR_ENV", "production")
    monkeypatch.setenv("BAZAAR_JWKS_URL", "http://auth/jwks.json")

    with pytest.raises(UnsafeConfiguration, match="BAZAAR_SECRET_KEY is the development default"):
        ShopSettings()


def test_production_refuses_a_short_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAZAAR_ENV", "production")
    monkeypatch.setenv("BAZAAR_JWKS_URL", "http://auth/jwks.json")
    monkeypatch.setenv("BAZAAR_SECRET_KEY", "too-short")

    with pytest.raises(UnsafeConfiguration, match="at least 32 characters"):
        ShopSettings()


def test_production_refuses_a_missing_key_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAZAAR_ENV", "production")
    monkeypatch.setenv("BAZAAR_SECRET_KEY", GOOD_SECRET)

    with pytest.raises(UnsafeConfiguration, match="BAZAAR_JWKS_URL or BAZAAR_JWT_PUBLIC_KEY"):
        ShopSettings()


def test_production_refusal_names_the_service_and_every_problem(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BAZAAR_ENV", "production")
    monkeypatch.setenv("BAZAAR_SECRET_KEY", "short")

    with pytest.raises(UnsafeConfiguration) as caught:
        ShopSettings()

    message = str(caught.value)
    assert "refusing to start shop in production" in message
    assert "at least 32 characters" in message
    assert "BAZAAR_JWKS_URL" in message


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BAZAAR_JWKS_URL", "http://auth/.well-known/jwks.json"),
        ("BAZAAR_JWT_PUBLIC_KEY", "-----BEGIN PUBLIC KEY-----..."),
    ],
)
def test_production_accepts_a_proper_configuration(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv("BAZAAR_ENV", "production")
    monkeypatch.setenv("BAZAAR_SHOP_SECRET_KEY", GOOD_SECRET)
    monkeypatch.setenv(variable, value)

    settings = ShopSettings()

    assert settings.env == "production"
    assert settings.secret_key.get_secret_value() == GOOD_SECRET


def test_secret_key_is_not_shown_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAZAAR_SECRET_KEY", GOOD_SECRET)

    assert GOOD_SECRET not in repr(ShopSettings())


def test_environment_replaces_the_whole_environment_and_restores_it_after_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BAZAAR_SHOP_PORT", "9000")
    before = dict(os.environ)
    with pytest.raises(RuntimeError), environment({"BAZAAR_SHOP_PORT": "9100"}):
        assert dict(os.environ) == {"BAZAAR_SHOP_PORT": "9100"}
        assert ShopSettings().port == 9100
        raise RuntimeError("the block failed")
    assert dict(os.environ) == before
