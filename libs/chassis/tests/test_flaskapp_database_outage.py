"""A database that goes away answers 503 with Retry-After, never 500 (a real server is stopped)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
import sqlalchemy as sa
from apiflask import APIBlueprint, APIFlask
from sqlalchemy.pool import NullPool

from chassis.errors import ServiceUnavailable
from chassis.flaskapp import create_api_app, db_session
from chassis.settings import ServiceSettings
from chassis.testing import PrivatePostgres, problem_of

ITEMS = sa.Table(
    "outage_items",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(50), nullable=False),
)


class OutageSettings(ServiceSettings):
    """A made-up service on the test's own PostgreSQL."""

    service_name: ClassVar[str] = "outage"


def build_app(url: str, server: PrivatePostgres) -> APIFlask:
    """Routes that lose the database at each point of a request's life."""
    app = create_api_app(__name__, OutageSettings(env="test", database_url=url), title="outage")
    bp = APIBlueprint("items", __name__)

    @bp.get("/items")
    def list_items() -> Any:
        return {
            "count": db_session().execute(sa.select(sa.func.count()).select_from(ITEMS)).scalar()
        }

    @bp.post("/items/write-after-outage")
    def write_after_outage() -> Any:
        db_session().execute(sa.select(1))
        server.stop()
        db_session().execute(sa.insert(ITEMS).values(name="lost"))
        return {}, 201

    @bp.post("/items/commit-after-outage")
    def commit_after_outage() -> Any:
        db_session().execute(sa.insert(ITEMS).values(name="uncommitted"))
        server.stop()
        return {}, 201

    @bp.post("/items/designed-503")
    def designed_503() -> Any:
        # The view gives up on purpose (a dependency is down); the database dies too, so the
        # rollback of the request's session fails.
        db_session().execute(sa.select(1))
        server.stop()
        raise ServiceUnavailable("payments is unavailable.", headers={"Retry-After": "2"})

    @bp.post("/items/error-answer")
    def error_answer() -> Any:
        db_session().execute(sa.select(1))
        server.stop()
        return {"detail": "no such item"}, 404

    app.register_blueprint(bp)
    return app


@pytest.fixture
def app(private_postgres: PrivatePostgres) -> Iterator[APIFlask]:
    name = "outage_" + uuid.uuid4().hex[:10]
    admin = sa.create_engine(private_postgres.url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = private_postgres.url.rsplit("/", 1)[0] + "/" + name
    application = build_app(url, private_postgres)
    ITEMS.metadata.create_all(application.extensions["bazaar"].db.engine)
    yield application
    application.extensions["bazaar"].db.dispose()


def assert_database_unavailable(response: Any) -> None:
    problem = problem_of(response, 503, "database-unavailable")
    assert int(response.headers["Retry-After"]) >= 1
    assert "database" in problem["detail"].lower()


def test_a_read_while_the_database_is_down_is_a_503(
    app: APIFlask, private_postgres: PrivatePostgres
) -> None:
    client = app.test_client()
    assert client.get("/items").status_code == 200  # a pooled connection exists
    private_postgres.stop()
    assert_database_unavailable(client.get("/items"))
    assert_database_unavailable(client.get("/items"))  # nothing to connect to at all
    private_postgres.start()
    assert client.get("/items").status_code == 200


def test_a_write_that_loses_the_database_is_a_503(
    app: APIFlask, private_postgres: PrivatePostgres
) -> None:
    assert_database_unavailable(app.test_client().post("/items/write-after-outage"))


def test_a_commit_that_loses_the_database_is_a_503(
    app: APIFlask, private_postgres: PrivatePostgres
) -> None:
    assert_database_unavailable(app.test_client().post("/items/commit-after-outage"))
    private_postgres.start()
    assert app.test_client().get("/items").get_json() == {"count": 0}


def test_a_designed_503_stays_one_when_the_rollback_fails(
    app: APIFlask, private_postgres: PrivatePostgres
) -> None:
    response = app.test_client().post("/items/designed-503")
    problem_of(response, 503, "service-unavailable")
    assert response.headers["Retry-After"] == "2"


def test_an_error_answer_stays_when_the_rollback_fails(
    app: APIFlask, private_postgres: PrivatePostgres
) -> None:
    assert app.test_client().post("/items/error-answer").status_code == 404
