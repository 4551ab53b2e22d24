"""deploy/compose.yaml: services, order of start, hardening, and each container's settings."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from chassis.settings import UnsafeConfiguration

from .facts import (
    CONTAINER_TMP,
    DEPLOY,
    ROOT,
    Service,
    missing_settings,
    settings_from,
)

INFRASTRUCTURE = {"postgres", "redis", "rabbitmq"}
# Services that start only with their profile.
OPTIONAL = {"jaeger": "tracing", "prometheus": "monitoring"}
JAEGER_OTLP_PORTS = {"grpc": 4317, "http/protobuf": 4318}
VARIABLE = re.compile(
    r"\$\$|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


class MissingVariable(Exception):
    """A `${NAME:?message}` whose variable is unset or empty: compose refuses to start."""


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """`value` with compose's `${...}` substitutions applied, recursively."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("braced") or match.group("bare")
        op, arg, current = match.group("op"), match.group("arg"), env.get(name)
        if op in (":?", "?") and (current is None or (op == ":?" and not current)):
            raise MissingVariable(f"{name}: {arg}")
        if op in (":-", "-") and (current is None or (op == ":-" and not current)):
            return arg
        if op in (":+", "+"):
            return arg if current else ""
        return current or ""

    return VARIABLE.sub(substitute, value)


def referenced_variables(value: Any) -> set[str]:
    """Every variable name a compose value refers to."""
    if isinstance(value, dict):
        return set().union(*(referenced_variables(v) for v in value.values()), set())
    if isinstance(value, list):
        return set().union(*(referenced_variables(v) for v in value), set())
    if not isinstance(value, str):
        return set()
    return {m.group("braced") or m.group("bare") for m in VARIABLE.finditer(value)} - {None}


def example_env() -> dict[str, str]:
    """deploy/.env.example as written (empty values stay empty)."""
    pairs = {}
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            pairs[name] = value
    return pairs


def filled_env() -> dict[str, str]:
    """deploy/.env.example with every empty value filled, as the documented recipe does."""
    return {name: value or os.urandom(32).hex() for name, value in example_env().items()}


def read_env_file(path: Path) -> dict[str, str]:
    """A committed env file's variables (comments and blank lines skipped)."""
    pairs = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            pairs[name] = value
    return pairs


@pytest.fixture(scope="module")
def env_file() -> dict[str, str]:
    """A filled-in deploy/.env."""
    return filled_env()


@pytest.fixture(scope="module")
def running(compose: dict[str, Any], env_file: dict[str, str]) -> dict[str, Any]:
    """Compose's services after interpolation with a filled-in deploy/.env."""
    services: dict[str, Any] = interpolate(compose["services"], env_file)
    return services


def roles(platform_services: dict[str, Service]) -> dict[str, tuple[Service, str]]:
    """Each Bazaar container's name -> (its service, api|worker|migrate)."""
    found = {}
    for service in platform_services.values():
        found[service.name] = (service, "api")
        if service.has_events:
            found[f"{service.name}-worker"] = (service, "worker")
        if service.has_database:
            found[f"{service.name}-migrate"] = (service, "migrate")
    return found


def test_runs_infrastructure_every_service_its_worker_and_its_migrations(
    compose: dict[str, Any], platform_services: dict[str, Service]
) -> None:
    assert set(compose["services"]) == INFRASTRUCTURE | set(OPTIONAL) | set(
        roles(platform_services)
    )
    # A plain `up` starts everything but the optional services.
    for name, entry in compose["services"].items():
        assert entry.get("profiles") == ([OPTIONAL[name]] if name in OPTIONAL else None), name


def test_only_the_gateway_publishes_a_port(
    compose: dict[str, Any], platform_services: dict[str, Service], env_file: dict[str, str]
) -> None:
    published = {
        name
        for name, svc in compose["services"].items()
        if svc.get("ports") and name not in OPTIONAL
    }
    assert published == {"gateway"}
    # Jaeger's and Prometheus's UIs have no sign-in: this host only.
    (ui,) = interpolate(compose["services"]["jaeger"]["ports"], env_file)
    assert ui == f"127.0.0.1:{env_file['JAEGER_UI_PORT']}:16686"
    assert compose["services"]["prometheus"]["ports"] == ["127.0.0.1:9090:9090"]
    (mapping,) = interpolate(compose["services"]["gateway"]["ports"], env_file)
    assert mapping.rsplit(":", 1)[1] == str(platform_services["gateway"].port)


def test_each_container_runs_its_services_image_and_command(
    compose: dict[str, Any], platform_services: dict[str, Service], env_file: dict[str, str]
) -> None:
    for container, (service, role) in roles(platform_services).items():
        entry = compose["services"][container]
        image = interpolate(entry["image"], env_file)
        assert image == f"bazaar/{service.name}:{env_file['BAZAAR_TAG']}"
        if role == "api":
            build = entry["build"]
            assert (DEPLOY / build["context"]).resolve() == ROOT
            assert (ROOT / build["dockerfile"]).is_file()
            assert build["args"] == {"SERVICE": service.name}
            assert "command" not in entry  # the image's: bazaar serve <service> --no-migrate
        else:
            assert "build" not in entry and entry["pull_policy"] == "never"
            expected = {
                "worker": ["bazaar", "events", "worker", service.name],
                "migrate": ["bazaar", "migrate", service.name],
            }[role]
            assert entry["command"] == expected
            if role == "migrate":
                # No HTTP server: the image's health check would only report "unhealthy".
                assert entry["healthcheck"] == {"disable": True}


def test_start_order_waits_for_health_and_for_migrations(
    compose: dict[str, Any], platform_services: dict[str, Service]
) -> None:
    services = compose["services"]
    for name, entry in services.items():
        for target, rule in entry.get("depends_on", {}).items():
            assert target in services, (name, target)
            condition = rule["condition"]
            if target.endswith("-migrate"):
                assert condition == "service_completed_successfully", (name, target)
                assert services[target]["restart"] == "no"
            else:
                assert condition == "service_healthy", (name, target)
                # Healthy needs a health check: the infrastructure's own, or the image's.
                assert services[target].get("healthcheck", {}).get("disable") is not True
                if target in INFRASTRUCTURE:
                    assert services[target]["healthcheck"]["test"]
    for container, (service, role) in roles(platform_services).items():
        needs = set(services[container].get("depends_on", {}))
        if service.has_database:
            assert "postgres" in needs
            if role != "migrate":
                assert f"{service.name}-migrate" in needs
        if role == "worker":
            assert "rabbitmq" in needs
    # The gateway comes up last: once it answers, every service does.
    assert {s for s in platform_services if s != "gateway"} <= set(
        services["gateway"]["depends_on"]
    )


def test_workers_are_health_checked_on_their_health_port(
    compose: dict[str, Any], platform_services: dict[str, Service]
) -> None:
    for container, (_, role) in roles(platform_services).items():
        if role != "worker":
            continue
        entry = compose["services"][container]
        port = entry["environment"]["BAZAAR_WORKER_METRICS_PORT"]
        check = entry["healthcheck"]
        assert check.get("disable") is not True, container
        assert f"http://127.0.0.1:{port}/livez" in " ".join(check["test"]), container
        assert check["retries"] >= 1 and check["timeout"], container


def test_bazaar_containers_are_hardened(
    compose: dict[str, Any], platform_services: dict[str, Service], runtime_env: dict[str, str]
) -> None:
    for container in roles(platform_services):
        entry = compose["services"][container]
        assert entry["read_only"] is True, container
        assert entry["cap_drop"] == ["ALL"], container
        assert "no-new-privileges:true" in entry["security_opt"], container
        # Writable where the image writes: /tmp (HOME, data dir) and the metrics folder.
        assert {CONTAINER_TMP, runtime_env["PROMETHEUS_MULTIPROC_DIR"]} <= set(entry["tmpfs"])
    for name in OPTIONAL:
        entry = compose["services"][name]
        assert entry["read_only"] is True and entry["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in entry["security_opt"], name


def test_prometheus_reads_the_rules_and_scrapes_every_container_by_its_name(
    compose: dict[str, Any], platform_services: dict[str, Service]
) -> None:
    prometheus = compose["services"]["prometheus"]
    assert "./prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    scraped = {name: sd["port"] for sd in job["dns_sd_configs"] for name in sd["names"]}
    expected = {
        container: (service.port if role == "api" else 9100)
        for container, (service, role) in roles(platform_services).items()
        if role != "migrate"
    }
    assert scraped == expected
    for container, port in expected.items():
        if container.endswith("-worker"):
            assert compose["services"][container]["environment"][
                "BAZAAR_WORKER_METRICS_PORT"
            ] == str(port)


def test_traces_are_off_unless_the_tracing_env_file_is_added(
    compose: dict[str, Any], platform_services: dict[str, Service], env_file: dict[str, str]
) -> None:
    plain = interpolate(compose["services"], env_file)
    for container in roles(platform_services):
        assert plain[container]["environment"]["BAZAAR_OTEL_ENABLED"] == "false", container
    # `--env-file deploy/.env --env-file deploy/tracing.env`: the later file wins.
    tracing = read_env_file(DEPLOY / "tracing.env")
    assert tracing["COMPOSE_PROFILES"] == OPTIONAL["jaeger"]
    assert not any(re.search("PASSWORD|SECRET", name) for name in tracing)
    traced = interpolate(compose["services"], {**env_file, **tracing})
    jaeger = compose["services"]["jaeger"]
    assert jaeger["image"].startswith("jaegertracing/jaeger:2.")
    assert "depends_on" not in jaeger  # it can be missing; spans are then dropped
    for container in roles(platform_services):
        environment = traced[container]["environment"]
        assert environment["BAZAAR_OTEL_ENABLED"] == "true", container
        assert 0 < float(environment["BAZAAR_OTEL_SAMPLE_RATIO"]) <= 1, container
        endpoint = urlsplit(environment["OTEL_EXPORTER_OTLP_ENDPOINT"])
        assert endpoint.hostname == "jaeger", container
        protocol = environment["OTEL_EXPORTER_OTLP_PROTOCOL"]
        assert endpoint.port == JAEGER_OTLP_PORTS[protocol], container
        # The service name is each service's own (the chassis sets it), never one for all.
        assert "OTEL_SERVICE_NAME" not in environment, container
        # Still builds: the settings ignore what they do not define.
        assert settings_from(platform_services[container.split("-")[0]], environment)


def test_every_container_gets_the_settings_production_requires(
    running: dict[str, Any], platform_services: dict[str, Service]
) -> None:
    for container, (service, _) in roles(platform_services).items():
        environment = running[container]["environment"]
        assert not missing_settings(service, environment), container
        # Builds without UnsafeConfiguration: a long secret, a way to verify tokens.
        settings = settings_from(service, environment)
        assert settings.env == "production"
        assert settings.secret_key.get_secret_value() == environment["BAZAAR_SECRET_KEY"]


def test_auth_gets_the_public_origin_from_the_env_file(
    compose: dict[str, Any], env_file: dict[str, str], platform_services: dict[str, Service]
) -> None:
    for container in ("auth", "auth-migrate"):
        entry = compose["services"][container]
        environment = interpolate(entry["environment"], env_file)
        assert environment["BAZAAR_AUTH_PUBLIC_ORIGIN"] == env_file["BAZAAR_PUBLIC_ORIGIN"]
        settings = settings_from(platform_services["auth"], environment)
        # The example works on this machine: the origin of the gateway's published port.
        assert settings.issuer_url == (  # type: ignore[attr-defined]
            f"http://localhost:{env_file['BAZAAR_HTTP_PORT']}/api/auth"
        )
        # Without it, compose refuses to start (and auth would, in production).
        unset = {k: v for k, v in env_file.items() if k != "BAZAAR_PUBLIC_ORIGIN"}
        with pytest.raises(MissingVariable, match="BAZAAR_PUBLIC_ORIGIN"):
            interpolate(entry["environment"], unset)
        placeholder = {**env_file, "BAZAAR_PUBLIC_ORIGIN": "https://shop.example.com"}
        with pytest.raises(UnsafeConfiguration, match="placeholder"):
            settings_from(platform_services["auth"], interpolate(entry["environment"], placeholder))


def test_urls_between_services_use_compose_names_and_default_ports(
    running: dict[str, Any], platform_services: dict[str, Service]
) -> None:
    for container, (service, _) in roles(platform_services).items():
        settings = settings_from(service, running[container]["environment"])
        for callee, field in service.calls().items():
            value = getattr(settings, field)
            urls = value[callee] if isinstance(value, dict) else value
            urls = [urls] if isinstance(urls, str) else list(urls)
            assert urls == [f"http://{callee}:{platform_services[callee].port}"], (
                container,
                callee,
            )
        # What `bazaar up` hands every service (auth's JWKS URL), with compose's host names.
        for provider in platform_services.values():
            if provider.spec.platform_env is not None:
                expected = provider.spec.platform_env(provider.settings_class(host=provider.name))
                for name, url in expected.items():
                    assert running[container]["environment"][name] == url, (container, name)


def test_each_service_has_its_own_database_and_role(
    running: dict[str, Any], platform_services: dict[str, Service], env_file: dict[str, str]
) -> None:
    for container, (service, _) in roles(platform_services).items():
        environment = running[container]["environment"]
        if not service.has_database:
            assert "BAZAAR_DATABASE_URL" not in environment
            continue
        url = urlsplit(environment["BAZAAR_DATABASE_URL"])
        assert url.scheme == "postgresql+psycopg" and url.hostname == "postgres"
        assert url.username == service.name and url.path == f"/{service.name}"
        assert url.password == env_file[f"{service.name.upper()}_DB_PASSWORD"]
        if service.has_events:
            assert urlsplit(environment["BAZAAR_BROKER_URL"]).hostname == "rabbitmq"
        assert urlsplit(environment["BAZAAR_REDIS_URL"]).hostname == "redis"


def test_secrets_come_from_the_uncommitted_env_file(compose: dict[str, Any]) -> None:
    example = example_env()
    assert referenced_variables(compose) == set(example)
    secrets = {name for name, value in example.items() if not value}
    assert secrets, "the example must leave every secret blank"
    assert all(re.search("PASSWORD|SECRET", name) for name in secrets)
    # A blank or missing secret stops compose, never a default one.
    for name in secrets:
        with pytest.raises(MissingVariable):
            interpolate(compose["services"], {**filled_env(), name: ""})
    ignored = (DEPLOY / ".gitignore").read_text().split()
    assert ".env" in ignored


def test_postgres_creates_one_database_per_service(
    running: dict[str, Any], platform_services: dict[str, Service], tmp_path: Path
) -> None:
    postgres = running["postgres"]
    script = DEPLOY / "postgres" / "init-databases.sh"
    assert (
        f"./{script.relative_to(DEPLOY)}:/docker-entrypoint-initdb.d/10-databases.sh:ro"
        in (postgres["volumes"])
    )
    with_databases = {s.name for s in platform_services.values() if s.has_database}
    passwords = {f"{name.upper()}_DB_PASSWORD" for name in with_databases}
    assert passwords <= set(postgres["environment"])
    # Run the script with a psql that records its arguments and input.
    log = tmp_path / "psql.log"
    fake = tmp_path / "psql"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {log}\ncat >> {log}\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    bash = shutil.which("bash")
    assert bash is not None
    env = {
        "PATH": f"{tmp_path}:/usr/bin:/bin",
        "POSTGRES_USER": "postgres",
        **{name: postgres["environment"][name] for name in passwords},
    }
    subprocess.run([bash, str(script)], env=env, check=True)
    calls = log.read_text()
    for name in with_databases:
        password = postgres["environment"][f"{name.upper()}_DB_PASSWORD"]
        assert f"--set name={name} --set password={password}" in calls
    assert calls.count('CREATE DATABASE :"name" OWNER :"name";') == len(with_databases)
    # Without a password the script stops before creating anything.
    log.unlink()
    env.pop(f"{sorted(with_databases)[0].upper()}_DB_PASSWORD")
    assert subprocess.run([bash, str(script)], env=env, capture_output=True).returncode != 0
    assert not log.exists()


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("a-${X}-b", {"X": "1"}, "a-1-b"),
        ("$$X and $X", {"X": "1"}, "$X and 1"),
        ("${X:-dev}", {"X": ""}, "dev"),
        ("${X-dev}", {"X": ""}, ""),
        ("${X:-dev}", {}, "dev"),
        ("${X:+on}", {"X": "1"}, "on"),
    ],
)
def test_interpolation_follows_compose(text: str, env: dict[str, str], expected: str) -> None:
    assert interpolate(text, env) == expected


@pytest.mark.parametrize(("text", "env"), [("${X:?set X}", {"X": ""}), ("${X?set X}", {})])
def test_interpolation_refuses_missing_required_variables(text: str, env: dict[str, str]) -> None:
    with pytest.raises(MissingVariable, match="set X"):
        interpolate(text, env)
