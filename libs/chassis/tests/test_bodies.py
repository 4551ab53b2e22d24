"""JSON bodies are objects of the types their schema names, and the document says so."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient
from pydantic import Field

from chassis.flaskapp import accepts, create_api_app, service
from chassis.schemas import Model
from chassis.settings import ServiceSettings


class BodySettings(ServiceSettings):
    # The chassis' loggers keep the first service name they log with: the same one as
    # test_flaskapp's keeps the two files independent of the order they run in.
    service_name = "example"
    default_port = 8998


class Change(Model):
    count: int | None = Field(default=None, ge=0)
    enabled: bool | None = None
    owner: uuid.UUID | None = None
    at: dt.datetime | None = None
    ratio: float | None = None


class Mandatory(Model):
    name: str


class Optional(Model):
    name: str | None = None


@pytest.fixture
def app(tmp_path: Path) -> Iterator[APIFlask]:
    app = create_api_app(
        __name__, BodySettings(database_url=f"sqlite:///{tmp_path / 'b.db'}"), title="Bodies"
    )

    @app.patch("/things")
    @app.input(Change, arg_name="body")
    def change(body: Change) -> dict[str, Any]:
        return body.model_dump(mode="json", exclude_unset=True)

    @app.post("/form")
    @accepts("application/x-www-form-urlencoded", "application/json")
    @app.input(Mandatory, location="json_or_form", arg_name="body")
    def form(body: Mandatory) -> dict[str, Any]:
        return body.model_dump()

    @app.post("/optional-form")
    @accepts("application/x-www-form-urlencoded", "application/json")
    @app.input(Optional, location="json_or_form", arg_name="body")
    def optional_form(body: Optional) -> dict[str, Any]:
        return body.model_dump()

    yield app
    with app.app_context():
        service().db.dispose()


@pytest.fixture
def client(app: APIFlask) -> FlaskClient:
    return app.test_client()


def send(client: FlaskClient, document: str) -> Any:
    return client.patch("/things", data=document, content_type="application/json")


@pytest.mark.parametrize("document", ["null", "[]", "3", '"text"', "true"])
def test_a_body_that_is_not_an_object_is_a_422(client: FlaskClient, document: str) -> None:
    response = send(client, document)

    assert response.status_code == 422
    assert response.get_json()["type"] == "/problems/validation-error"


@pytest.mark.parametrize(
    "change",
    [{"count": False}, {"count": "3"}, {"count": 1.5}, {"enabled": 1}, {"enabled": "true"},
     {"ratio": "0.5"}, {"owner": 5}],
)  # fmt: skip
def test_a_value_of_another_json_type_is_a_422(client: FlaskClient, change: Any) -> None:
    assert send(client, json.dumps(change)).status_code == 422


def test_strings_still_parse_into_ids_and_timestamps_and_2_0_is_an_integer(
    client: FlaskClient,
) -> None:
    owner = str(uuid.uuid4())
    change = {"count": 2.0, "owner": owner, "at": "2026-01-02T03:04:05Z", "ratio": 1}

    response = send(client, json.dumps(change))

    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {
        "count": 2, "owner": owner, "at": "2026-01-02T03:04:05Z", "ratio": 1.0
    }  # fmt: skip


def test_form_bodies_are_validated_as_before(client: FlaskClient) -> None:
    assert client.post("/form", data={"name": "Ada"}).get_json() == {"name": "Ada"}
    assert client.post("/form", data={}).status_code == 422


def test_the_document_marks_the_bodies_an_operation_needs_as_required(app: APIFlask) -> None:
    paths = app.spec["paths"]  # type: ignore[index]

    assert paths["/things"]["patch"]["requestBody"]["required"] is True
    assert paths["/form"]["post"]["requestBody"]["required"] is True
    assert "required" not in paths["/optional-form"]["post"]["requestBody"]
