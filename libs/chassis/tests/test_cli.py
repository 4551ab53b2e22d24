"""The `bazaar` command: migrate, seed, unknown services, and the server command lines."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from chassis.cli import main, server_argv
from chassis.registry import ServiceSpec
from chassis.settings import ServiceSettings


def bazaar(*args: str, data_dir: Path) -> Result:
    return CliRunner().invoke(main, list(args), env={"BAZAAR_DATA_DIR": str(data_dir)})


def tables(database: Path) -> set[str]:
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {name for (name,) in rows}


def test_migrate_catalog_creates_its_database_under_the_data_dir(tmp_path: Path) -> None:
    result = bazaar("migrate", "catalog", data_dir=tmp_path)

    assert result.exit_code == 0, result.output
    assert "catalog: migrated" in result.output
    assert {"alembic_version", "products", "categories"} <= tables(tmp_path / "catalog.db")


def test_migrate_is_idempotent(tmp_path: Path) -> None:
    first = bazaar("migrate", "catalog", data_dir=tmp_path)
    second = bazaar("migrate", "catalog", data_dir=tmp_path)

    assert (first.exit_code, second.exit_code) == (0, 0)


def test_seed_catalog_adds_rows_once(tmp_path: Path) -> None:
    first = bazaar("seed", "catalog", data_dir=tmp_path)
    second = bazaar("seed", "catalog", data_dir=tmp_path)

    assert first.exit_code == 0, first.output
    added = re.search(r"catalog: seeded (\d+) rows", first.output)
    assert added is not None and int(added.group(1)) > 0
    assert second.exit_code == 0, second.output
    assert "catalog: data kept" in second.output


def test_unknown_service_fails_with_a_clear_message(tmp_path: Path) -> None:
    result = bazaar("migrate", "nope", data_dir=tmp_path)

    assert result.exit_code == 2
    assert "unknown service(s): nope" in result.output
    assert "catalog" in result.output  # the services it does know
    assert not (tmp_path / "catalog.db").exists()


class ExampleSettings(ServiceSettings):
    service_name = "example"


def example_spec(kind: str) -> ServiceSpec:
    return ServiceSpec(
        name="example",
        kind=kind,  # type: ignore[arg-type]
        app_factory="example:create_app",
        settings_class=ExampleSettings,
    )


@pytest.fixture
def settings() -> ExampleSettings:
    return ExampleSettings(host="10.1.2.3", port=8123, workers=3, threads=6)


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_wsgi_services_run_under_gunicorn_gthread(settings: ExampleSettings) -> None:
    argv = server_argv(example_spec("wsgi"), settings)

    assert argv[:2] == ["gunicorn", "example:create_app()"]
    assert option(argv, "--worker-class") == "gthread"
    assert option(argv, "--bind") == "10.1.2.3:8123"
    assert option(argv, "--workers") == "3"
    assert option(argv, "--threads") == "6"


def test_wsgi_services_with_one_thread_run_sync_workers(settings: ExampleSettings) -> None:
    argv = server_argv(example_spec("wsgi"), settings.model_copy(update={"threads": 1}))

    assert option(argv, "--worker-class") == "sync"
    assert option(argv, "--workers") == "3"
    assert "--threads" not in argv


def test_asgi_services_run_under_uvicorn_with_uvloop_and_httptools(
    settings: ExampleSettings,
) -> None:
    argv = server_argv(example_spec("asgi"), settings)

    assert argv[:3] == ["uvicorn", "example:create_app", "--factory"]
    assert option(argv, "--loop") == "uvloop"
    assert option(argv, "--http") == "httptools"
    assert option(argv, "--host") == "10.1.2.3"
    assert option(argv, "--port") == "8123"
    assert option(argv, "--workers") == "3"


def test_servers_keep_connections_open_longer_than_callers_pools(settings: ExampleSettings) -> None:
    wsgi = server_argv(example_spec("wsgi"), settings)
    asgi = server_argv(example_spec("asgi"), settings)

    # ClientPolicy drops idle connections after 4 s; the servers must wait longer.
    assert float(option(wsgi, "--keep-alive")) > 4
    assert float(option(asgi, "--timeout-keep-alive")) > 4
