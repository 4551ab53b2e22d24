"""Everything a Flask service needs from the chassis, wired by one call: `init_service`."""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, TypeVar, cast

import orjson
from apiflask import APIFlask
from apiflask.exceptions import HTTPError as APIFlaskHTTPError
from flask import Flask, Response, current_app, g, jsonify, request
from flask import Request as FlaskRequest
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from chassis import bodies, faults, tracing
from chassis.auth import Principal, TokenVerifier, bearer_token, verifier_from_settings
from chassis.db import Database, DatabaseUnavailable, database_unavailable
from chassis.errors import (
    PROBLEM_CONTENT_TYPE,
    Forbidden,
    MalformedJson,
    PayloadTooLarge,
    ProblemError,
    Unauthorized,
    UnsupportedMediaType,
    problem_body,
)
from chassis.health import HealthChecks, dependency_checks
from chassis.logging import configure_service_logging, get_logger
from chassis.metrics import observe_request, render_latest
from chassis.openapi import document_problems
from chassis.pagination import CursorCodec
from chassis.requestid import REQUEST_ID_HEADER, accept_or_generate, set_request_id
from chassis.settings import ServiceSettings

F = TypeVar("F", bound=Callable[..., Any])
log = get_logger("chassis.http")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
READ_METHODS = frozenset({"GET", "HEAD"})
BEARER_SCHEME = "BearerAuth"
_PROBE_ENDPOINTS = frozenset({"bazaar_livez", "bazaar_readyz"})
_OPERATIONAL_ENDPOINTS = _PROBE_ENDPOINTS | {"bazaar_metrics"}
# Where the gateway mounts this service (`/api/catalog`): path segments, nothing else.
FORWARDED_PREFIX_HEADER = "X-Forwarded-Prefix"
_PREFIX = re.compile(r"(?:/[A-Za-z0-9._~-]+)+")


class ServiceRequest(FlaskRequest):
    """Flask's request, with a body that is not JSON answered as a problem that says where."""

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        """Raise `MalformedJson` with the parser's line and column; other cases as Flask."""
        if isinstance(e, json.JSONDecodeError):
            if not e.doc.strip():
                raise MalformedJson("The request body is empty; send a JSON document.")
            raise MalformedJson(
                f"The request body is not valid JSON: {e.msg} at line {e.lineno}, "
                f"column {e.colno}.",
                extra={"line": e.lineno, "column": e.colno},
            )
        if isinstance(e, UnicodeDecodeError):
            raise MalformedJson(
                f"The request body is not UTF-8 text: byte {e.start} cannot be decoded.",
                extra={"position": e.start},
            )
        return super().on_json_loading_failed(e)


# On import, not in create_api_app: `@bp.input` builds its adapter when a views module
# loads, and every views module imports this one first.
bodies.install()


@dataclass
class ServiceContext:
    """What the chassis keeps for one service app (in `app.extensions["bazaar"]`)."""

    settings: ServiceSettings
    db: Database
    verifier: TokenVerifier | None
    health: HealthChecks = field(default_factory=HealthChecks)
    _codecs: dict[str, CursorCodec] = field(default_factory=dict, init=False, repr=False)

    def cursor_codec(self, resource: str) -> CursorCodec:
        """A cursor codec keyed by this service's secret (one per resource, kept)."""
        codec = self._codecs.get(resource)
        if codec is None:
            secret = self.settings.secret_key.get_secret_value()
            codec = self._codecs.setdefault(resource, CursorCodec(secret, resource))
        return codec


def create_api_app(import_name: str, settings: ServiceSettings, *, title: str) -> APIFlask:
    """An APIFlask app with OpenAPI 3.1, wired by `init_service`."""
    app = APIFlask(
        import_name,
        title=title,
        version="1.0.0",
        json_errors=False,
        spec_path="/openapi.json",
        docs_path="/docs",
    )
    app.config.update(
        OPENAPI_VERSION="3.1.0",
        SECURITY_SCHEMES={
            BEARER_SCHEME: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        },
        SERVERS=[{"url": "/"}],
        SYNC_LOCAL_SPEC=False,
    )
    app.spec_processor(document_problems)  # type: ignore[arg-type]
    init_service(app, settings)
    return app


def init_service(app: Flask, settings: ServiceSettings) -> ServiceContext:
    """Logging, request ids, errors, body limits, DB session, auth, health and metrics."""
    configure_service_logging(settings)
    # Before the database: its engine gets SQL spans only when traces are on.
    tracing.configure_tracing(settings)
    faults.configure(settings)
    # One connection per request thread, so a request never waits for the pool; the overflow
    # covers sessions opened beside the request's own (streams, units of work).
    db = Database(settings.database_url, pool_size=settings.threads)
    ctx = ServiceContext(settings=settings, db=db, verifier=verifier_from_settings(settings))
    ctx.health.add("database", db.ping)
    for name, check in dependency_checks(settings.redis_url, settings.broker_url).items():
        # Requests never wait on the broker (events leave through the outbox), and a Redis
        # outage only skips the caches (ADR 0011): neither may take every instance out of
        # its load balancer at once. Both are reported.
        ctx.health.add(name, check, advisory=name in ("broker", "redis"))
    app.extensions["bazaar"] = ctx
    app.request_class = ServiceRequest
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["SECRET_KEY"] = settings.secret_key.get_secret_value()

    app.before_request(_begin_request)
    app.after_request(_finish_request)
    app.teardown_request(_close_session)
    # APIFlask registers its own handler for its HTTPError; ours replaces it.
    for error_class in (Exception, HTTPException, APIFlaskHTTPError):
        app.register_error_handler(error_class, _render_error)
    _add_operational_routes(app)
    return ctx


def delay_requests_by_fault(app: Flask, name: str) -> None:
    """Sleep before each API request for the milliseconds the fault flag `name` says."""

    def delay() -> None:
        if request.endpoint not in _OPERATIONAL_ENDPOINTS:  # probes and scrapes stay prompt
            faults.sleep_for(name)

    app.before_request(delay)


def service() -> ServiceContext:
    """The chassis context of the current app."""
    return cast(ServiceContext, current_app.extensions["bazaar"])


def db_session() -> Session:
    """The request's session; the chassis commits it when the request succeeds.

    GET and HEAD requests get a session that only reads (no BEGIN/COMMIT on PostgreSQL);
    other safe methods, and unsafe ones, a unit of work.
    """
    if "db_session" not in g:
        db = service().db
        if request.method in BODY_METHODS:
            factory = db.write_session_factory
        elif request.method in READ_METHODS:
            factory = db.read_session_factory
        else:
            factory = db.session_factory
        g.db_session = factory()
    return cast(Session, g.db_session)


def after_session(callback: Callable[[], None]) -> None:
    """Run `callback` once the request's session has been committed or rolled back, and closed."""
    g.setdefault("after_session", []).append(callback)


def json_response(
    body: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """Our own data, already in its documented shape, as JSON: no model built per item.

    For rows a service wrote itself; what comes from outside is validated by a schema.
    The view's `@bp.output` schema still documents the answer (and schemathesis checks
    it); returning a Response makes APIFlask pass it through unchanged.
    """
    # orjson writes datetimes as pydantic does (ISO 8601, UTC as `Z`), in a tenth of the
    # standard library's time for a page of products.
    encoded = orjson.dumps(body, option=orjson.OPT_UTC_Z)
    response = Response(encoded, status=status, headers=headers)
    response.mimetype = "application/json"
    return response


# -- request lifecycle -------------------------------------------------------------


def _begin_request() -> None:
    g.started = time.perf_counter()
    request_id = accept_or_generate(request.headers.get(REQUEST_ID_HEADER))
    g.request_id = request_id
    set_request_id(request_id)
    if request.endpoint not in _OPERATIONAL_ENDPOINTS:
        g.server_span = tracing.start_server_span(
            request.method,
            request.headers.get(tracing.TRACEPARENT),
            request.headers.get(tracing.TRACESTATE),
        )
    _check_body()


def _check_body() -> None:
    if request.method not in BODY_METHODS:
        return
    length = request.content_length
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if length is not None and length > limit:
        raise PayloadTooLarge(f"The request body is over {limit} bytes.")
    has_body = bool(length) or "chunked" in request.headers.get("Transfer-Encoding", "")
    view = current_app.view_functions.get(request.endpoint or "")
    accepted = getattr(view, "accepted_media_types", ("application/json",))
    if has_body and not _media_type_accepted(request.mimetype, accepted):
        raise UnsupportedMediaType("Send the body as " + " or ".join(accepted) + ".")


def _media_type_accepted(mimetype: str, accepted: tuple[str, ...]) -> bool:
    if mimetype in accepted:
        return True
    return (
        "application/json" in accepted
        and mimetype.startswith("application/")
        and (mimetype.endswith("+json"))
    )


def accepts(*media_types: str) -> Callable[[F], F]:
    """Let a view take bodies in other media types than JSON (form posts, say)."""

    def decorate(view: F) -> F:
        view.accepted_media_types = media_types  # type: ignore[attr-defined]
        return view

    return decorate


def _finish_request(response: Response) -> Response:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        if response.status_code < 400:
            try:
                session.commit()
            except Exception as exc:
                if not database_unavailable(exc):
                    _discard(session)
                    raise
                # The commit's outcome is unknown; an idempotent retry finds out.
                response = _render_error(exc)
        _discard(session)
    request_id = g.get("request_id")
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id
    started = g.get("started")
    if started is not None and request.endpoint not in ("bazaar_metrics",):
        elapsed = time.perf_counter() - started
        route = request.url_rule.rule if request.url_rule else "<unmatched>"
        observe_request(
            service().settings.service_name, request.method, route, response.status_code, elapsed
        )
        # Probes arrive every second from every balancer and kubelet: not worth a line each.
        emit = log.debug if request.endpoint in _PROBE_ENDPOINTS else log.info
        emit(
            "request",
            method=request.method,
            path=request.path,
            status=response.status_code,
            duration_ms=round(elapsed * 1000, 2),
            request_id=request_id,
        )
    server_span: tracing.ServerSpan | None = g.pop("server_span", None)
    if server_span is not None:
        server_span.finish(
            response.status_code,
            route=request.url_rule.rule if request.url_rule else None,
            **{
                "http.request.method": request.method,
                "url.path": request.path,
                tracing.REQUEST_ID: request_id,
            },
        )
    return response


def _discard(session: Session) -> None:
    """Roll back and close, whatever the connection's state: the answer is already decided.

    On a connection the database dropped the rollback itself fails; the server has rolled
    the transaction back already, and the pool replaces the connection.
    """
    try:
        session.rollback()
        session.close()
    except Exception as exc:
        log.warning("could not roll back the request's session", error=repr(exc))
        with contextlib.suppress(Exception):
            session.invalidate()


def _close_session(_: BaseException | None) -> None:
    session: Session | None = g.pop("db_session", None)
    try:
        if session is not None:
            _discard(session)
    finally:
        for callback in g.pop("after_session", ()):
            callback()
        # A request that ended without an answer (a client gone mid-stream) still ends its span.
        server_span: tracing.ServerSpan | None = g.pop("server_span", None)
        if server_span is not None:
            server_span.finish(500)
        set_request_id(None)


# -- errors -------------------------------------------------------------------------


def public_path() -> str:
    """The path the client called: behind the gateway, with the prefix it mounts us at."""
    prefix = request.headers.get(FORWARDED_PREFIX_HEADER, "")
    if not _PREFIX.fullmatch(prefix):
        prefix = ""
    return prefix + request.path


def _render_error(error: Exception) -> Response:
    status, headers = 500, {}
    if isinstance(error, ProblemError):
        body = error.to_problem(instance=public_path())
        headers = dict(error.headers)
        status = error.status
    elif isinstance(error, APIFlaskHTTPError):
        status, body = _validation_problem(error)
        headers = {str(k): str(v) for k, v in dict(error.headers or {}).items()}
    elif isinstance(error, HTTPException) and error.code and error.code != 500:
        # abort(404), abort(503)...: the status was chosen on purpose; 500 is a crash.
        status = error.code
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            headers["Allow"] = ", ".join(sorted(error.valid_methods))
        body = problem_body(status, detail=error.description, instance=public_path())
    else:
        original = getattr(error, "original_exception", None) or error
        if database_unavailable(original):
            log.warning("database unavailable", error=repr(original), path=request.path)
            return _render_error(DatabaseUnavailable())
        log.error("unhandled error", exc_info=original, path=request.path)
        tracing.record_error(original)
        body = problem_body(500, detail="An unexpected error occurred.", instance=public_path())
    response = jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM_CONTENT_TYPE
    response.headers.update(headers)
    return response


def _validation_problem(error: APIFlaskHTTPError) -> tuple[int, dict[str, Any]]:
    detail = error.detail if isinstance(error.detail, dict) else {}
    errors = [
        {"location": location, "field": fieldname, "message": message}
        for location, fields in detail.items()
        if isinstance(fields, dict)
        for fieldname, messages in fields.items()
        for message in (messages if isinstance(messages, list) else [messages])
    ]
    in_body = any(e["location"] in ("json", "form", "json_or_form") for e in errors)
    if errors:
        status = 422 if in_body else 400
        slug = "validation-error" if in_body else "invalid-parameter"
        title = "Validation failed" if in_body else "Invalid parameter"
        return status, problem_body(
            status,
            slug=slug,
            title=title,
            detail="; ".join(f"{e['field']}: {e['message']}" for e in errors) or error.message,
            instance=public_path(),
            extra={"errors": errors},
        )
    # Not a validation failure: an `apiflask.abort(status, message)` keeps its status.
    status = error.status_code
    return status, problem_body(status, detail=error.message, instance=public_path())


# -- auth -------------------------------------------------------------------------


def current_principal() -> Principal | None:
    """The verified caller of this request, or None when no token was sent."""
    if "principal" in g:
        return cast(Principal | None, g.principal)
    token = bearer_token(request.headers.get("Authorization"))
    principal = None
    if token is not None:
        verifier = service().verifier
        if verifier is None:
            raise Unauthorized("This service is not configured to verify tokens.")
        principal = verifier.verify(token)
    g.principal = principal
    return principal


def require_principal() -> Principal:
    """The verified caller; 401 when there is none."""
    principal = current_principal()
    if principal is None:
        raise Unauthorized("A bearer token is required.")
    return principal


def _guard(check: Callable[[Principal], bool], denial: str) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not check(require_principal()):
                raise Forbidden(denial)
            return view(*args, **kwargs)

        spec = getattr(wrapper, "_spec", None) or {}
        wrapper._spec = {**spec, "security": BEARER_SCHEME}  # type: ignore[attr-defined]
        return cast(F, wrapper)

    return decorate


def require_role(*roles: str) -> Callable[[F], F]:
    """Allow callers whose token carries any of `roles`; 401 without a token, 403 otherwise."""
    return _guard(lambda p: any(p.has_role(r) for r in roles), "This needs role " + "/".join(roles))


def require_scope(*scopes: str) -> Callable[[F], F]:
    """Allow callers whose token carries every one of `scopes`."""
    return _guard(
        lambda p: all(p.has_scope(s) for s in scopes), "This needs scope " + " ".join(scopes)
    )


# -- health and metrics -------------------------------------------------------------------


def _add_operational_routes(app: Flask) -> None:
    def livez() -> Response:
        return jsonify(status="ok")

    def readyz() -> tuple[Response, int]:
        ok, report = service().health.run()
        return jsonify(report), 200 if ok else 503

    def metrics() -> Response:
        payload, content_type = render_latest()
        return Response(payload, content_type=content_type)

    routes: list[tuple[str, str, Any]] = [
        ("/livez", "bazaar_livez", livez),
        ("/readyz", "bazaar_readyz", readyz),
        ("/metrics", "bazaar_metrics", metrics),
    ]
    for rule, name, view in routes:
        view._spec = {"hide": True}  # operational, not part of the API document
        app.add_url_rule(rule, name, view, methods=["GET"])
