"""`bazaar openapi SERVICE`: the service's document, built in-process with default settings."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from chassis.cli import main


def openapi(service: str, **env: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["openapi", service], env=env)
    return result.exit_code, result.stdout


def test_prints_the_services_openapi_document_as_json() -> None:
    code, output = openapi("catalog")

    assert code == 0, output
    document = json.loads(output)
    assert document["openapi"].startswith("3.1")
    assert {"/products", "/products/{product_id}/stock-adjustments"} <= set(document["paths"])
    assert "Problem" in document["components"]["schemas"]


def test_builds_a_service_that_reads_its_database_at_start() -> None:
    code, output = openapi("auth")  # loads its signing key when the app is created

    assert code == 0, output
    assert "/token" in json.loads(output)["paths"]


def test_ignores_the_environment_and_leaves_no_data_behind(tmp_path: Path) -> None:
    code, output = openapi(
        "orders",
        BAZAAR_DATA_DIR=str(tmp_path),
        BAZAAR_ORDERS_DATABASE_URL="postgresql+psycopg://nobody@192.0.2.1:5432/none",
        BAZAAR_BROKER_URL="amqp://guest:guest@192.0.2.1:5672//",
    )

    assert code == 0, output
    assert "/cart" in json.loads(output)["paths"]
    assert list(tmp_path.iterdir()) == []


def test_the_same_document_every_time() -> None:
    assert openapi("payments") == openapi("payments")


def test_the_gateway_has_no_document_of_its_own() -> None:
    result = CliRunner().invoke(main, ["openapi", "gateway"])

    assert result.exit_code == 2
    assert "merged from the running services" in result.output
