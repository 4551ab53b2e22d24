"""Gateway settings from the environment, and how the `bazaar` command finds the gateway."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from chassis.cli import server_argv
from chassis.registry import discover
from gateway.service import SERVICE
from gateway.settings import GatewaySettings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "BAZAAR_GATEWAY_UPSTREAMS",
        "BAZAAR_GATEWAY_PORT",
        "BAZAAR_PORT",
        "BAZAAR_REDIS_URL",
    ):
        monkeypatch.delenv(name, raising=False)


def test_defaults_point_at_every_local_service() -> None:
    settings = GatewaySettings()
    assert settings.port == 8000
    assert settings.upstreams == {
        "catalog": ("http://127.0.0.1:8001",),
        "auth": ("http://127.0.0.1:8002",),
        "users": ("http://127.0.0.1:8003",),
        "orders": ("http://127.0.0.1:8004",),
        "payments": ("http://127.0.0.1:8005",),
    }
    assert settings.upstream_connect_timeout == 1.0
    assert settings.upstream_read_timeout == 10.0
    assert settings.upstream_attempts == 3
    assert settings.upstream_health_interval == 1.0
    assert settings.upstream_health_timeout == 0.5
    assert settings.upstream_unhealthy_threshold == 2
    assert settings.upstream_healthy_threshold == 2
    assert settings.max_body_bytes == 1024 * 1024


def test_rate_limit_defaults() -> None:
    settings = GatewaySettings()
    assert settings.rate_limits_enabled
    assert settings.rate_limit_authenticated == "600/minute"
    assert settings.rate_limit_anonymous == "300/minute"
    assert settings.rate_limit_strict == {
        "POST /api/auth/token": "10/minute",
        "POST /api/auth/register": "10/minute",
        "POST /api/auth/authorize": "10/minute",
    }
    assert settings.rate_limit_fail_closed == {"auth"}
    assert settings.rate_limit_redis_timeout <= 0.25


def test_rate_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAZAAR_GATEWAY_RATE_LIMIT_ANONYMOUS", "5/second;100/hour")
    monkeypatch.setenv("BAZAAR_GATEWAY_RATE_LIMIT_STRICT", '{"POST /api/auth/token": "3/minute"}')
    monkeypatch.setenv("BAZAAR_GATEWAY_RATE_LIMIT_FAIL_CLOSED", '["auth", "users"]')
    settings = GatewaySettings()
    assert settings.rate_limit_anonymous == "5/second;100/hour"
    assert settings.rate_limit_strict == {"POST /api/auth/token": "3/minute"}
    assert settings.rate_limit_fail_closed == {"auth", "users"}


@pytest.mark.parametrize(
    "overrides",
    [
        {"rate_limit_anonymous": "lots"},
        {"rate_limit_authenticated": "10 per fortnight"},
        {"rate_limit_strict": {"/api/auth/token": "10/minute"}},
        {"rate_limit_strict": {"POST /auth/token": "10/minute"}},
        {"rate_limit_strict": {"POST /api/auth/token": "often"}},
    ],
)
def test_unusable_rate_limits_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        GatewaySettings(**overrides)  # type: ignore[arg-type]


def test_upstreams_and_port_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "BAZAAR_GATEWAY_UPSTREAMS", '{"catalog": "http://catalog:8000/", "orders": "http://o:80"}'
    )
    monkeypatch.setenv("BAZAAR_GATEWAY_PORT", "9000")
    settings = GatewaySettings()
    assert settings.port == 9000
    assert settings.upstreams == {"catalog": ("http://catalog:8000",), "orders": ("http://o:80",)}


def test_a_service_may_have_several_instances(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "BAZAAR_GATEWAY_UPSTREAMS",
        '{"catalog": ["http://10.0.0.5:8001/", "http://10.0.0.6:8001"], "auth": "http://a:80"}',
    )
    settings = GatewaySettings()
    assert settings.upstreams == {
        "catalog": ("http://10.0.0.5:8001", "http://10.0.0.6:8001"),
        "auth": ("http://a:80",),
    }


@pytest.mark.parametrize(
    "upstreams",
    [
        {"Bad Name": "http://x"},
        {"docs": "http://x"},
        {"catalog": "ftp://x"},
        {"catalog": []},
        {"catalog": ["http://x", "ftp://y"]},
        {"catalog": ["http://x/", "http://x"]},
    ],
)
def test_unusable_upstreams_are_refused(upstreams: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        GatewaySettings(upstreams=upstreams)


def test_the_gateway_is_discovered_and_served_by_uvicorn_last() -> None:
    spec = discover()["gateway"]
    assert spec is SERVICE
    assert spec.kind == "asgi"
    assert spec.start_order == 90
    argv = server_argv(spec, GatewaySettings())
    assert argv[:3] == ["uvicorn", "gateway:create_app", "--factory"]
    assert argv[argv.index("--loop") + 1] == "uvloop"
    assert argv[argv.index("--http") + 1] == "httptools"
