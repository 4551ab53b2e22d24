"""Schemathesis fuzzes the users OpenAPI document: no 5xx, responses match the schema."""

from __future__ import annotations

import uuid
from typing import Any

import schemathesis
from sqlalchemy.orm import Session

from chassis.testing import TokenMinter, fuzz_openapi

from .conftest import make_address, make_profile

OPERATIONS = 11


def test_users_api_survives_fuzzing_as_an_admin_with_a_profile(
    app: Any, session: Session, token_minter: TokenMinter
) -> None:
    # With a profile and an address, /me and /me/addresses get past their 404s.
    admin = make_profile(session, role="admin")
    make_address(session, admin, is_default=True)
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    headers = token_minter.auth(admin.id, roles=("admin",))
    assert fuzz_openapi(schema, headers=headers, max_examples=10) == OPERATIONS


def test_users_api_survives_fuzzing_with_a_users_write_service_token(
    app: Any, token_minter: TokenMinter
) -> None:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    headers = token_minter.auth(f"client:{uuid.uuid4().hex[:8]}", scopes=("users:write",))
    assert fuzz_openapi(schema, headers=headers, max_examples=10) == OPERATIONS
