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
    for name in ("BAZAAR_GATEWAY_UPSTREAMS", "BAZAAR_GATEWAY_PORT", "BAZAAR_PORT"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_point_at_a_local_catalog() -> None:
    settings = GatewaySettings()
    assert settings.port == 8000
    assert settings.upstreams == {"catalog": "http://127.0.0.1:8001"}
    assert settings.upstream_connect_timeout == 1.0
    assert settings.upstream_read_timeout == 10.0
    assert settings.max_body_bytes == 1024 * 1024


def test_upstreams_and_port_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "BAZAAR_GATEWAY_UPSTREAMS", '{"catalog": "http://catalog:8000/", "orders": "http://o:80"}'
    )
    monkeypatch.setenv("BAZAAR_GATEWAY_PORT", "9000")
    settings = GatewaySettings()
    assert settings.port == 9000
    assert settings.upstreams == {"catalog": "http://catalog:8000", "orders": "http://o:80"}


@pytest.mark.parametrize(
    "upstreams",
    [{"Bad Name": "http://x"}, {"docs": "http://x"}, {"catalog": "ftp://x"}],
)
def test_unusable_upstreams_are_refused(upstreams: dict[str, str]) -> None:
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
