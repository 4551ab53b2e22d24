"""A tiny APIFlask service built with the chassis: errors, bodies, ids, transactions, auth."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import apiflask
import flask
import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient
from prometheus_client import REGISTRY
from pydantic import Field
from sqlalchemy import String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from werkzeug.test import TestResponse

from chassis.errors import Conflict, InvalidCursor, NotFound
from chassis.flaskapp import (
    accepts,
    create_api_app,
    current_principal,
    db_session,
    require_role,
    require_scope,
    service,
)
from chassis.schemas import Model, Query, Text
from chassis.settings import ServiceSettings
from chassis.testing import TokenMinter, rolled_back

PROBLEM_JSON = "application/problem+json"
SECRET_TEXT = "do-not-leak-this-internal-detail"


class ExampleSettings(ServiceSettings):
    service_name = "example"
    default_port = 8999


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "chassis_test_flask_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(50))


class NoteCreate(Model):
    text: Text = Field(min_length=1, max_length=50)


class NoteQuery(Query):
    limit: int = Field(20, ge=1, le=100)


def build_app(settings: ExampleSettings) -> APIFlask:
    """The example service: a few routes exercising what the chassis promises."""
    app = create_api_app(__name__, settings, title="Example")

    @app.get("/notes/<int:note_id>")
    def get_note(note_id: int) -> dict[str, Any]:
        note = db_session().get(Note, note_id)
        if note is None:
            raise NotFound(f"No note {note_id}.")
        return {"id": note.id, "text": note.text}

    @app.get("/notes")
    @app.input(NoteQuery, location="query", arg_name="query")
    def list_notes(query: NoteQuery) -> dict[str, Any]:
        return {"limit": query.limit}

    @app.post("/notes")
    @app.input(NoteCreate, arg_name="body")
    def create_note(body: NoteCreate) -> tuple[dict[str, Any], int]:
        note = Note(text=body.text)
        db_session().add(note)
        db_session().flush()
        return {"id": note.id}, 201

    @app.post("/notes/then-conflict")
    @app.input(NoteCreate, arg_name="body")
    def create_then_conflict(body: NoteCreate) -> None:
        db_session().add(Note(text=body.text))
        db_session().flush()
        raise Conflict("Written, then refused.")

    @app.post("/notes/then-crash")
    @app.input(NoteCreate, arg_name="body")
    def create_then_crash(body: NoteCreate) -> None:
        db_session().add(Note(text=body.text))
        db_session().flush()
        raise RuntimeError(SECRET_TEXT)

    @app.post("/form")
    @accepts("application/x-www-form-urlencoded")
    def take_form() -> dict[str, Any]:
        return dict(flask.request.form)

    @app.get("/crash")
    def crash() -> None:
        raise RuntimeError(SECRET_TEXT)

    @app.get("/abort/<int:status>")
    def apiflask_abort(status: int) -> None:
        apiflask.abort(status, "Aborted on purpose.")

    @app.get("/flask-abort/<int:status>")
    def flask_abort(status: int) -> None:
        flask.abort(status)

    @app.get("/admin")
    @require_role("admin", "root")
    def admin_only() -> dict[str, Any]:
        principal = current_principal()
        assert principal is not None
        return {"subject": principal.subject}

    @app.get("/write")
    @require_scope("notes:write", "notes:read")
    def needs_scopes() -> dict[str, Any]:
        return {"ok": True}

    @app.get("/whoami")
    def whoami() -> dict[str, Any]:
        principal = current_principal()
        return {"subject": principal.subject if principal else None}

    return app


AppFactory = Callable[..., APIFlask]


@pytest.fixture
def make_app(tmp_path: Path, token_minter: TokenMinter) -> Iterator[AppFactory]:
    """Builds example apps on a temporary SQLite file; disposes their engines afterwards."""
    apps: list[APIFlask] = []

    def make(**overrides: Any) -> APIFlask:
        options: dict[str, Any] = {
            "database_url": f"sqlite:///{tmp_path / 'example.db'}",
            "jwt_public_key": token_minter.public_pem,
            "max_body_bytes": 1024,
        }
        options.update(overrides)
        app = build_app(ExampleSettings(**options))
        ctx = service_of(app)
        if ctx.db.url.startswith("sqlite"):
            Base.metadata.create_all(ctx.db.engine)
        apps.append(app)
        return app

    yield make
    for app in apps:
        service_of(app).db.dispose()


def service_of(app: APIFlask) -> Any:
    with app.app_context():
        return service()


@pytest.fixture
def app(make_app: AppFactory) -> APIFlask:
    return make_app()


@pytest.fixture
def client(app: APIFlask) -> FlaskClient:
    return app.test_client()


def problem(response: TestResponse) -> dict[str, Any]:
    """The problem document of an error response, checking its media type."""
    assert response.mimetype == PROBLEM_JSON, response.data
    body = json.loads(response.data)
    assert body["status"] == response.status_code
    return dict(body)


# -- errors as problem+json ---------------------------------------------------------------


def test_unknown_path_is_a_404_problem(client: FlaskClient) -> None:
    response = client.get("/nowhere")

    assert response.status_code == 404
    body = problem(response)
    assert body["type"] == "/problems/not-found"
    assert body["title"] == "Not Found"
    assert body["instance"] == "/nowhere"


def test_wrong_method_is_a_405_problem_with_allow(client: FlaskClient) -> None:
    response = client.delete("/notes/1")

    assert response.status_code == 405
    assert problem(response)["type"] == "/problems/method-not-allowed"
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


def test_problem_error_from_a_view_keeps_status_slug_and_detail(client: FlaskClient) -> None:
    response = client.get("/notes/999")

    assert response.status_code == 404
    body = problem(response)
    # The request's trace, next to its X-Request-ID header (traces are on by default).
    assert re.fullmatch(r"[0-9a-f]{32}", body.pop("trace_id"))
    assert body == {
        "type": "/problems/not-found",
        "title": "Not Found",
        "status": 404,
        "detail": "No note 999.",
        "instance": "/notes/999",
    }


def test_unhandled_exception_is_a_500_without_internals(
    make_app: AppFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_app().test_client()

    response = client.get("/crash")

    assert response.status_code == 500
    body = problem(response)
    assert body["type"] == "/problems/internal-error"
    assert body["detail"] == "An unexpected error occurred."
    text = response.get_data(as_text=True)
    assert SECRET_TEXT not in text and "Traceback" not in text
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    errors = [entry for entry in logged if entry["event"] == "unhandled error"]
    assert errors and SECRET_TEXT in errors[0]["exception"]
    assert errors[0]["service"] == "example"


def test_apiflask_abort_keeps_its_status(client: FlaskClient) -> None:
    conflict = client.get("/abort/409")
    unprocessable = client.get("/abort/422")

    assert conflict.status_code == 409
    assert problem(conflict)["type"] == "/problems/conflict"
    assert problem(conflict)["detail"] == "Aborted on purpose."
    assert unprocessable.status_code == 422
    assert problem(unprocessable)["detail"] == "Aborted on purpose."


def test_flask_abort_with_a_5xx_keeps_its_status(client: FlaskClient) -> None:
    response = client.get("/flask-abort/503")

    assert response.status_code == 503
    assert problem(response)["type"] == "/problems/service-unavailable"


# -- request validation -----------------------------------------------------------------


def test_invalid_query_parameter_is_a_400_with_errors(client: FlaskClient) -> None:
    response = client.get("/notes?limit=0")

    assert response.status_code == 400
    body = problem(response)
    assert body["type"] == "/problems/invalid-parameter"
    assert [(e["location"], e["field"]) for e in body["errors"]] == [("query", "limit")]
    assert "limit" in body["detail"]


def test_unknown_query_parameters_are_ignored(client: FlaskClient) -> None:
    response = client.get("/notes?limit=5&utm_source=mail")

    assert response.status_code == 200
    assert response.json == {"limit": 5}


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"text": ""}, "text"), ({"text": "a\x00b"}, "text"), ({"text": "a", "extra": 1}, "extra")],
)
def test_invalid_json_body_is_a_422_with_errors(
    client: FlaskClient, payload: dict[str, Any], field: str
) -> None:
    response = client.post("/notes", json=payload)

    assert response.status_code == 422
    body = problem(response)
    assert body["type"] == "/problems/validation-error"
    assert [(e["location"], e["field"]) for e in body["errors"]] == [("json", field)]


def test_malformed_json_is_a_400_that_says_where_the_parser_stopped(client: FlaskClient) -> None:
    response = client.post(
        "/notes", data='{\n  "text": "a",\n  oops\n}', content_type="application/json"
    )

    assert response.status_code == 400
    body = problem(response)
    assert body["type"] == "/problems/malformed-json"
    assert body["title"] == "Malformed JSON"
    assert (body["line"], body["column"]) == (3, 3)
    assert "line 3, column 3" in body["detail"]
    assert body["instance"] == "/notes"


def test_an_empty_json_body_is_malformed_json(client: FlaskClient) -> None:
    response = client.post("/notes", data=" ", content_type="application/json")

    body = problem(response)
    assert (response.status_code, body["type"]) == (400, "/problems/malformed-json")
    assert "empty" in body["detail"]


def test_a_body_that_is_not_utf8_is_malformed_json(client: FlaskClient) -> None:
    response = client.post("/notes", data=b'{"text": "\xff"}', content_type="application/json")

    body = problem(response)
    assert (response.status_code, body["type"]) == (400, "/problems/malformed-json")
    assert "UTF-8" in body["detail"]


def test_instance_is_the_public_path_behind_the_gateway(client: FlaskClient) -> None:
    response = client.get("/nowhere", headers={"X-Forwarded-Prefix": "/api/example"})

    assert problem(response)["instance"] == "/api/example/nowhere"


@pytest.mark.parametrize("prefix", ["api/example", "/api/example/", "https://evil.example", "/a b"])
def test_a_prefix_that_is_not_path_segments_is_ignored(client: FlaskClient, prefix: str) -> None:
    response = client.get("/nowhere", headers={"X-Forwarded-Prefix": prefix})

    assert problem(response)["instance"] == "/nowhere"


def test_wrong_content_type_is_a_415(client: FlaskClient) -> None:
    response = client.post("/notes", data="text=hello", content_type="text/plain")

    assert response.status_code == 415
    body = problem(response)
    assert body["type"] == "/problems/unsupported-media-type"
    assert "application/json" in body["detail"]


def test_json_suffix_media_types_are_accepted(client: FlaskClient) -> None:
    response = client.post(
        "/notes", data=json.dumps({"text": "hi"}), content_type="application/merge-patch+json"
    )

    assert response.status_code == 201


def test_a_view_can_accept_form_posts(client: FlaskClient) -> None:
    response = client.post("/form", data={"name": "Ada"})

    assert response.status_code == 200
    assert response.json == {"name": "Ada"}
    assert client.post("/form", json={"name": "Ada"}).status_code == 415


def test_body_over_max_body_bytes_is_a_413(client: FlaskClient) -> None:
    response = client.post("/notes", json={"text": "x" * 2000})

    assert response.status_code == 413
    assert problem(response)["type"] == "/problems/payload-too-large"


def test_body_at_max_body_bytes_is_accepted_by_the_limit(client: FlaskClient) -> None:
    body = json.dumps({"text": "y" * 10}).ljust(1024)

    response = client.post("/notes", data=body, content_type="application/json")

    assert response.status_code == 201


# -- request ids ------------------------------------------------------------------------


def test_request_id_is_generated_when_absent(client: FlaskClient) -> None:
    first = client.get("/livez").headers["X-Request-ID"]
    second = client.get("/livez").headers["X-Request-ID"]

    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != second


def test_sane_request_id_is_kept(client: FlaskClient) -> None:
    response = client.get("/notes/999", headers={"X-Request-ID": "trace-1234.abc"})

    assert response.headers["X-Request-ID"] == "trace-1234.abc"


@pytest.mark.parametrize("incoming", ["x" * 500, "has spaces in it", "semi;colon"])
def test_insane_request_id_is_replaced(client: FlaskClient, incoming: str) -> None:
    response = client.get("/livez", headers={"X-Request-ID": incoming})

    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


# -- one transaction per request ----------------------------------------------------------


@pytest.fixture
def db_app(database_url: str, make_app: AppFactory) -> Iterator[APIFlask]:
    """The example app on each backend, with its table created and dropped around the test."""
    engine = create_engine(database_url)
    Base.metadata.create_all(engine)
    try:
        yield make_app(database_url=database_url)
    finally:
        Base.metadata.drop_all(engine)
        engine.dispose()


def stored_texts(app: APIFlask) -> list[str]:
    with Session(service_of(app).db.engine) as session:
        return list(session.scalars(select(Note.text).order_by(Note.id)))


def test_session_is_committed_on_success(db_app: APIFlask) -> None:
    response = db_app.test_client().post("/notes", json={"text": "kept"})

    assert response.status_code == 201
    assert stored_texts(db_app) == ["kept"]


@pytest.mark.parametrize(
    ("path", "status"), [("/notes/then-conflict", 409), ("/notes/then-crash", 500)]
)
def test_session_is_rolled_back_on_an_error(db_app: APIFlask, path: str, status: int) -> None:
    response = db_app.test_client().post(path, json={"text": "discarded"})

    assert response.status_code == status
    assert stored_texts(db_app) == []


def test_rolled_back_undoes_everything_the_app_committed(db_app: APIFlask) -> None:
    client = db_app.test_client()
    with rolled_back(db_app):
        created = client.post("/notes", json={"text": "temporary"}).get_json()
        assert client.get(f"/notes/{created['id']}").json == {
            "id": created["id"],
            "text": "temporary",
        }

    assert stored_texts(db_app) == []


# -- health and metrics -----------------------------------------------------------------------


def test_livez_is_ok(client: FlaskClient) -> None:
    response = client.get("/livez")

    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_is_ok_when_the_database_answers(client: FlaskClient) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json is not None
    assert response.json["status"] == "ok"
    assert response.json["checks"]["database"]["status"] == "ok"


def test_readyz_is_503_when_the_database_is_unreachable(
    make_app: AppFactory, unused_port: int
) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{unused_port}/nowhere?connect_timeout=1"
    client = make_app(database_url=url).test_client()

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json is not None
    assert response.json["status"] == "failing"
    assert response.json["checks"]["database"]["status"] == "failing"
    assert response.json["checks"]["database"]["error"] == "OperationalError"


def test_readyz_reports_a_redis_outage_but_stays_ready(
    make_app: AppFactory, unused_port: int
) -> None:
    # Reads go on from the database while Redis is down (caches are skipped): taking every
    # pod out of its Service for a shared dependency would turn that into an outage.
    client = make_app(redis_url=f"redis://127.0.0.1:{unused_port}/0").test_client()

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json is not None
    assert response.json["checks"]["database"]["status"] == "ok"
    assert response.json["checks"]["redis"]["status"] == "failing"
    assert response.json["checks"]["redis"]["advisory"] is True


def requests_counted(route: str, status: str) -> float:
    labels = {"service": "example", "method": "GET", "route": route, "status": status}
    return REGISTRY.get_sample_value("http_requests_total", labels) or 0.0


def test_metrics_count_requests_by_route_template(client: FlaskClient) -> None:
    before = requests_counted("/notes/<int:note_id>", "404")

    client.get("/notes/41")
    client.get("/notes/42")
    response = client.get("/metrics")

    assert response.status_code == 200
    assert requests_counted("/notes/<int:note_id>", "404") == before + 2
    text = response.get_data(as_text=True)
    assert 'route="/notes/<int:note_id>"' in text
    assert "http_requests_total" in text
    assert 'route="/notes/41"' not in text


def test_metrics_label_unmatched_paths_without_the_raw_path(client: FlaskClient) -> None:
    before = requests_counted("<unmatched>", "404")

    client.get("/random/path/123")

    assert requests_counted("<unmatched>", "404") == before + 1
    assert "/random/path/123" not in client.get("/metrics").get_data(as_text=True)


def test_metrics_do_not_count_themselves(client: FlaskClient) -> None:
    client.get("/metrics")

    assert requests_counted("/metrics", "200") == 0.0


# -- authentication and authorisation ---------------------------------------------------------


def test_require_role_without_token_is_401_with_challenge(client: FlaskClient) -> None:
    response = client.get("/admin")

    assert response.status_code == 401
    assert problem(response)["type"] == "/problems/unauthorized"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="bazaar"'


def test_require_role_with_a_token_lacking_the_role_is_403(
    client: FlaskClient, token_minter: TokenMinter
) -> None:
    response = client.get("/admin", headers=token_minter.auth(roles=("customer",)))

    assert response.status_code == 403
    assert problem(response)["type"] == "/problems/forbidden"
    assert "WWW-Authenticate" not in response.headers


@pytest.mark.parametrize("role", ["admin", "root"])
def test_require_role_with_any_listed_role_is_200(
    client: FlaskClient, token_minter: TokenMinter, role: str
) -> None:
    response = client.get("/admin", headers=token_minter.auth("staff-1", roles=(role,)))

    assert response.status_code == 200
    assert response.json == {"subject": "staff-1"}


def test_require_scope_needs_every_scope(client: FlaskClient, token_minter: TokenMinter) -> None:
    partial = client.get("/write", headers=token_minter.auth(scopes=("notes:write",)))
    full = client.get("/write", headers=token_minter.auth(scopes=("notes:write", "notes:read")))
    anonymous = client.get("/write")

    assert partial.status_code == 403
    assert full.status_code == 200
    assert anonymous.status_code == 401


def test_token_signed_by_another_key_is_401(client: FlaskClient) -> None:
    stranger = TokenMinter()

    response = client.get("/admin", headers=stranger.auth(roles=("admin",)))

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="bazaar"'


@pytest.mark.parametrize("authorization", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer not.a.jwt"])
def test_unusable_authorization_header_is_401(client: FlaskClient, authorization: str) -> None:
    response = client.get("/whoami", headers={"Authorization": authorization})

    assert response.status_code == 401
    assert problem(response)["type"] == "/problems/unauthorized"


def test_expired_token_is_401_even_on_an_open_route(
    client: FlaskClient, token_minter: TokenMinter
) -> None:
    response = client.get("/whoami", headers=token_minter.auth(ttl=-3600))

    assert response.status_code == 401
    assert "expired" in problem(response)["detail"]


def test_open_route_sees_the_caller_or_nobody(
    client: FlaskClient, token_minter: TokenMinter
) -> None:
    assert client.get("/whoami").json == {"subject": None}
    assert client.get("/whoami", headers=token_minter.auth("u-9")).json == {"subject": "u-9"}


def test_service_without_a_key_source_refuses_every_token(
    make_app: AppFactory, token_minter: TokenMinter
) -> None:
    client = make_app(jwt_public_key=None).test_client()

    response = client.get("/whoami", headers=token_minter.auth(roles=("admin",)))

    assert response.status_code == 401
    assert "not configured" in problem(response)["detail"]


# -- wiring ----------------------------------------------------------------------------------


def test_openapi_documents_guards_and_hides_operational_routes(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").json
    assert spec is not None

    assert spec["openapi"].startswith("3.1")
    assert spec["paths"]["/admin"]["get"]["security"] == [{"BearerAuth": []}]
    assert not {"/livez", "/readyz", "/metrics"} & set(spec["paths"])


def test_cursor_codec_is_keyed_by_the_service_secret(make_app: AppFactory) -> None:
    first = service_of(make_app(secret_key="s" * 40)).cursor_codec("notes")
    second = service_of(make_app(secret_key="t" * 40)).cursor_codec("notes")
    token = first.encode("id", [1])

    assert first.decode(token, "id", (int,)) == [1]
    with pytest.raises(InvalidCursor):
        second.decode(token, "id", (int,))


def test_json_response_writes_what_the_pydantic_schema_would() -> None:
    import datetime as dt

    from pydantic import BaseModel

    from chassis.flaskapp import json_response

    class Row(BaseModel):
        name: str
        at: dt.datetime
        later: dt.datetime

    at = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    later = dt.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    body = {"name": "Olá", "at": at, "later": later}
    response = json_response(body, status=201, headers={"Location": "/rows/1"})

    assert (response.status_code, response.mimetype) == (201, "application/json")
    assert response.headers["Location"] == "/rows/1"
    assert response.get_json() == Row(**body).model_dump(mode="json")
    assert response.get_json()["at"] == "2026-01-02T03:04:05Z"
