"""Schemathesis fuzzes auth's OpenAPI document: no 5xx, and answers match the document."""

from __future__ import annotations

import schemathesis
from apiflask import APIFlask

from chassis.testing import fuzz_openapi

from .conftest import log_in, make_account
from .users_standin import UsersStandIn


def test_auth_api_survives_fuzzing_with_a_valid_token(app: APIFlask, users: UsersStandIn) -> None:
    make_account(app, email="fuzz@example.com")
    token = log_in(app.test_client(), "fuzz@example.com").get_json()["access_token"]
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)

    # register, token, logout, jwks, both discovery documents, userinfo (GET, POST),
    # the authorize page (GET, POST) and the providers' callback
    assert fuzz_openapi(schema, headers={"Authorization": f"Bearer {token}"}) == 11
    assert users.profiles  # valid registrations went all the way to (the stand-in) users


def test_token_endpoint_documents_its_oauth_errors(app: APIFlask) -> None:
    operation = app.test_client().get("/openapi.json").get_json()["paths"]["/token"]["post"]
    assert {"200", "400", "401", "429", "503"} <= set(operation["responses"])
    assert set(operation["requestBody"]["content"]) == {
        "application/json",
        "application/x-www-form-urlencoded",
    }
