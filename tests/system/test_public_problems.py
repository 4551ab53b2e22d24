"""Problems through the gateway name the path the client called, and say where JSON broke."""

from __future__ import annotations

import httpx


def test_a_problem_names_the_public_path(gateway: httpx.Client) -> None:
    response = gateway.get("/api/catalog/products/999999999")

    assert response.status_code == 404
    assert response.json()["instance"] == "/api/catalog/products/999999999"


def test_malformed_json_is_a_problem_with_line_and_column(gateway: httpx.Client) -> None:
    response = gateway.post(
        "/api/auth/register",
        content=b'{"email": "ada@example.com",\n "password": }',
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == "/problems/malformed-json"
    assert (body["line"], body["column"]) == (2, 14)
    assert body["instance"] == "/api/auth/register"
