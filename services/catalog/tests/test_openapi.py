"""Schemathesis fuzzes the catalog's OpenAPI document: no 5xx, responses match the schema."""

from __future__ import annotations

from typing import Any

import schemathesis

from chassis.testing import TokenMinter, fuzz_openapi


def test_catalog_api_survives_fuzzing_as_admin(app: Any, token_minter: TokenMinter) -> None:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    admin = token_minter.auth("admin-fuzz", roles=("admin",))
    assert fuzz_openapi(schema, headers=admin) >= 9


def test_catalog_api_survives_fuzzing_anonymously(app: Any) -> None:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    assert fuzz_openapi(schema, max_examples=10) >= 9
