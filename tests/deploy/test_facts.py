"""The expectations the other tests derive from the code are not vacuous."""

from __future__ import annotations

from .facts import Service, deployment_requirements, missing_settings, production_requirements


def test_production_requires_a_secret_key_and_a_way_to_verify_tokens(
    platform_services: dict[str, Service],
) -> None:
    for service in platform_services.values():
        assert {"secret_key", "jwks_url"} <= production_requirements(service), service.name


def test_calls_between_services_come_from_the_settings(
    platform_services: dict[str, Service],
) -> None:
    calls = {name: set(service.calls()) for name, service in platform_services.items()}
    assert calls["orders"] == {"catalog", "users", "payments"}
    assert calls["auth"] == {"users"}
    assert calls["gateway"] == {s.name for s in platform_services.values() if s.spec.kind == "wsgi"}
    assert calls["catalog"] == calls["users"] == calls["payments"] == set()


def test_a_deployment_needs_shared_state_and_its_own_database(
    platform_services: dict[str, Service],
) -> None:
    assert deployment_requirements(platform_services["catalog"]) == {
        "redis_url",
        "database_url",
        "broker_url",
    }
    assert deployment_requirements(platform_services["gateway"]) == {"redis_url", "upstreams"}


def test_a_setting_counts_with_either_prefix(platform_services: dict[str, Service]) -> None:
    gateway = platform_services["gateway"]
    env = {"BAZAAR_SECRET_KEY": "k", "BAZAAR_JWKS_URL": "u", "BAZAAR_REDIS_URL": "r"}
    assert missing_settings(gateway, env) == {"upstreams"}
    assert missing_settings(gateway, {**env, "BAZAAR_GATEWAY_UPSTREAMS": "{}"}) == set()
