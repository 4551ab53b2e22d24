"""The category API."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from ..conftest import make_category


def test_categories_are_listed_by_name(client: FlaskClient, session: Session) -> None:
    make_category(session, slug="zebra", name="Zebra things")
    make_category(session, slug="apples", name="Apples")
    body = client.get("/categories").get_json()
    assert [c["slug"] for c in body["items"]] == ["apples", "zebra"]
    assert body["next_cursor"] is None


def test_admin_creates_a_category(client: FlaskClient, admin: dict[str, str]) -> None:
    response = client.post("/categories", json={"slug": "lamps", "name": "Lamps"}, headers=admin)
    assert response.status_code == 201
    assert response.get_json()["slug"] == "lamps"
    assert "lamps" in [c["slug"] for c in client.get("/categories").get_json()["items"]]


def test_duplicate_category_is_409(
    client: FlaskClient, session: Session, admin: dict[str, str]
) -> None:
    make_category(session, slug="lamps")
    response = client.post("/categories", json={"slug": "lamps", "name": "Again"}, headers=admin)
    assert response.status_code == 409
    assert response.get_json()["type"] == "/problems/duplicate-category"


def test_customer_cannot_create_a_category(client: FlaskClient, customer: dict[str, str]) -> None:
    response = client.post("/categories", json={"slug": "x", "name": "X"}, headers=customer)
    assert response.status_code == 403


def test_bad_category_slug_is_422(client: FlaskClient, admin: dict[str, str]) -> None:
    response = client.post("/categories", json={"slug": "Not A Slug", "name": "X"}, headers=admin)
    assert response.status_code == 422
