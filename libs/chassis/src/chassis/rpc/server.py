"""A service's gRPC server: the same tokens, sessions and errors as its HTTP API.

Servicer methods are plain gRPC methods marked with `@rpc(...)`, which states what the call
needs (scopes, a session that writes). The chassis interceptor does the rest around each
call, in the thread that runs it: the request id (and, later, trace context) from the
metadata, the deadline, the bearer token verified by the service's own `TokenVerifier`
with the same scope rules as `require_scope`, one database session committed only when
the call succeeds, and every `ProblemError` (or pydantic validation error) turned into a
gRPC status with `google.rpc` details (`ErrorInfo` with the problem's slug, `BadRequest`
field violations). Domain functions stay the ones the HTTP views call.

The server is built after fork, in the process that serves it (never in `bazaar up`'s
preloaded parent: a gRPC server or channel does not survive `fork()`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import google.rpc.error_details_pb2 as error_details_pb2
import google.rpc.status_pb2 as status_pb2
import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from chassis.auth import Principal, TokenVerifier, bearer_token
from chassis.db import Database, database_unavailable
from chassis.errors import ProblemError, Unauthorized
from chassis.health import HealthChecks
from chassis.logging import get_logger
from chassis.requestid import set_request_id
from chassis.rpc import propagation
from chassis.rpc.metrics import SERVER_CALLS, SERVER_LATENCY

log = get_logger("chassis.rpc")
F = TypeVar("F", bound=Callable[..., Any])
ModelT = TypeVar("ModelT", bound=BaseModel)
HEALTH_PREFIX = "/grpc.health.v1.Health/"
# One megabyte, as the HTTP APIs' body limit.
MAX_MESSAGE_BYTES = 1024 * 1024
ERROR_DOMAIN = "bazaar"

_CODE_BY_STATUS = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.FAILED_PRECONDITION,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    502: grpc.StatusCode.UNAVAILABLE,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}


@dataclass(frozen=True)
class Policy:
    """What one RPC needs: a verified token carrying `scopes`; a session that may write."""

    scopes: tuple[str, ...] = ()
    writes: bool = False


def rpc(*scopes: str, writes: bool = False) -> Callable[[F], F]:
    """Mark a servicer method as served: any verified token, carrying every one of `scopes`."""

    def mark(method: F) -> F:
        method.__rpc_policy__ = Policy(scopes=scopes, writes=writes)  # type: ignore[attr-defined]
        return method

    return mark


@dataclass
class _Call:
    principal: Principal
    session: Session


_current: ContextVar[_Call | None] = ContextVar("bazaar_rpc_call", default=None)


def _call() -> _Call:
    call = _current.get()
    if call is None:
        raise RuntimeError("not inside a served gRPC call")
    return call


def rpc_session() -> Session:
    """The call's session; the chassis commits it when the call succeeds."""
    return _call().session


def rpc_principal() -> Principal:
    """The verified caller of this call."""
    return _call().principal


def validated(model: type[ModelT], data: dict[str, Any]) -> ModelT:
    """`data` checked by the same pydantic model the HTTP API uses (INVALID_ARGUMENT if not)."""
    return model.model_validate(data, strict=True)


def fields_of(message: Message) -> dict[str, Any]:
    """A message's fields by name: unset optional fields absent, repeated ones as lists."""
    data: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        if field.has_presence and not message.HasField(field.name):
            continue
        value = getattr(message, field.name)
        data[field.name] = list(value) if field.is_repeated else value
    return data


def _status(code: grpc.StatusCode, message: str, *details: Message) -> grpc.Status:
    packed = []
    for detail in details:
        container = any_pb2.Any()
        container.Pack(detail)
        packed.append(container)
    value: int = code.value[0]
    return rpc_status.to_status(status_pb2.Status(code=value, message=message, details=packed))


def problem_status(error: ProblemError) -> grpc.Status:
    """The gRPC status of a problem: its code, its detail, and its slug as `ErrorInfo`."""
    code = _CODE_BY_STATUS.get(error.status, grpc.StatusCode.INTERNAL)
    info = error_details_pb2.ErrorInfo(reason=error.slug, domain=ERROR_DOMAIN)
    details: list[Message] = [info]
    violations = error.extra.get("errors")
    if isinstance(violations, list):
        details.append(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=str(v.get("field", "")), description=str(v.get("message", ""))
                    )
                    for v in violations
                    if isinstance(v, dict)
                ]
            )
        )
    return _status(code, error.detail or error.title, *details)


def validation_status(error: ValidationError) -> grpc.Status:
    """INVALID_ARGUMENT with one field violation per pydantic error."""
    violations = [
        error_details_pb2.BadRequest.FieldViolation(
            field=".".join(str(part) for part in item["loc"]) or "request",
            description=item["msg"],
        )
        for item in error.errors(include_url=False)
    ]
    info = error_details_pb2.ErrorInfo(reason="validation-error", domain=ERROR_DOMAIN)
    return _status(
        grpc.StatusCode.INVALID_ARGUMENT,
        "The request is invalid.",
        info,
        error_details_pb2.BadRequest(field_violations=violations),
    )


class ServiceInterceptor(grpc.ServerInterceptor):
    """Wraps every served unary call: context, deadline, token, session, errors, metrics."""

    def __init__(self, *, service: str, db: Database, verifier: TokenVerifier | None) -> None:
        self.service = service
        self.db = db
        self.verifier = verifier

    def intercept_service(
        self, continuation: Callable[[Any], Any], details: grpc.HandlerCallDetails
    ) -> Any:
        """The handler for one method, wrapped (health checks pass through)."""
        handler = continuation(details)
        method = details.method
        if handler is None or method.startswith(HEALTH_PREFIX) or handler.unary_unary is None:
            return handler
        policy = getattr(handler.unary_unary, "__rpc_policy__", None)
        behaviour = self._wrap(method, handler.unary_unary, policy)
        return grpc.unary_unary_rpc_method_handler(
            behaviour,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _wrap(
        self, method: str, behaviour: Callable[[Any, grpc.ServicerContext], Any], policy: Any
    ) -> Callable[[Any, grpc.ServicerContext], Any]:
        def served(request: Any, context: grpc.ServicerContext) -> Any:
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                return self._serve(request, context, behaviour, policy)
            except _Abort as abort:
                code = abort.status.code
                context.abort_with_status(abort.status)
            finally:
                SERVER_CALLS.labels(self.service, method, code.name).inc()
                SERVER_LATENCY.labels(self.service, method).observe(time.perf_counter() - started)
                set_request_id(None)

        return served

    def _serve(
        self,
        request: Any,
        context: grpc.ServicerContext,
        behaviour: Callable[[Any, grpc.ServicerContext], Any],
        policy: Any,
    ) -> Any:
        metadata = propagation.incoming(context.invocation_metadata())
        if not isinstance(policy, Policy):
            # A method nobody marked is served to nobody (deny by default).
            raise _Abort(_status(grpc.StatusCode.UNIMPLEMENTED, "This method is not served."))
        _check_deadline(context)
        try:
            principal = self._authorize(metadata.get(propagation.AUTHORIZATION_KEY), policy)
            with self.db.session(writes=policy.writes) as session:
                token = _current.set(_Call(principal, session))
                try:
                    answer = behaviour(request, context)
                finally:
                    _current.reset(token)
                # The caller has given up: keep nothing it will never hear about.
                _check_deadline(context)
                return answer
        except _Abort:
            raise
        except ProblemError as exc:
            raise _Abort(problem_status(exc)) from exc
        except ValidationError as exc:
            raise _Abort(validation_status(exc)) from exc
        except Exception as exc:
            if database_unavailable(exc):
                log.warning("database unavailable", error=repr(exc))
                raise _Abort(
                    _status(grpc.StatusCode.UNAVAILABLE, "The database is unavailable.")
                ) from exc
            log.error("unhandled error", exc_info=exc)
            raise _Abort(_status(grpc.StatusCode.INTERNAL, "Internal error.")) from exc

    def _authorize(self, authorization: str | None, policy: Policy) -> Principal:
        token = bearer_token(authorization)
        if token is None:
            raise Unauthorized("A bearer token is required.")
        if self.verifier is None:
            raise Unauthorized("This service is not configured to verify tokens.")
        principal = self.verifier.verify(token)
        missing = [s for s in policy.scopes if not principal.has_scope(s)]
        if missing:
            raise _Abort(
                _status(
                    grpc.StatusCode.PERMISSION_DENIED,
                    "This needs scope " + " ".join(policy.scopes),
                    error_details_pb2.ErrorInfo(reason="forbidden", domain=ERROR_DOMAIN),
                )
            )
        return principal


class _Abort(Exception):
    """End the call with this status."""

    def __init__(self, status: grpc.Status) -> None:
        super().__init__(status.details)
        self.status = status


def _check_deadline(context: grpc.ServicerContext) -> None:
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        raise _Abort(_status(grpc.StatusCode.DEADLINE_EXCEEDED, "The call's deadline passed."))


Register = Callable[[grpc.Server], Sequence[str]]


class RpcServer:
    """A started gRPC server with the standard health service, kept in step with readiness."""

    def __init__(
        self,
        *,
        service: str,
        db: Database,
        verifier: TokenVerifier | None,
        health_checks: HealthChecks,
        register: Register,
        address: str,
        threads: int = 8,
        health_interval: float = 5.0,
    ) -> None:
        self.server = grpc.server(
            ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"{service}-rpc"),
            interceptors=[ServiceInterceptor(service=service, db=db, verifier=verifier)],
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                # Several processes (gunicorn workers) may serve one port; the kernel
                # spreads connections over them.
                ("grpc.so_reuseport", 1),
            ],
        )
        self.services = list(register(self.server))
        self.health = health.HealthServicer(experimental_non_blocking=True)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.port = self.server.add_insecure_port(address)
        if self.port == 0:
            raise OSError(f"cannot listen for gRPC on {address}")
        self._checks = health_checks
        self._interval = health_interval
        self._stopping = threading.Event()
        self._watcher = threading.Thread(
            target=self._watch, name=f"{service}-rpc-health", daemon=True
        )

    def start(self) -> RpcServer:
        """Start serving, and keep the health service's status in step with readiness."""
        self._set_health()
        self.server.start()
        self._watcher.start()
        return self

    def _set_health(self) -> None:
        ok, _ = self._checks.run()
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if ok
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", *self.services):
            self.health.set(name, status)

    def _watch(self) -> None:
        while not self._stopping.wait(self._interval):
            try:
                self._set_health()
            except Exception as exc:  # a check that raises must not end the watcher
                log.warning("gRPC health check failed", error=repr(exc))

    def stop(self, grace: float = 5.0) -> None:
        """Say NOT_SERVING, let calls in flight finish within `grace` seconds, stop."""
        self._stopping.set()
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait(grace + 1)


AppRegister = Callable[[grpc.Server, Any], Sequence[str]]


def serve_app(app: Any, register: AppRegister, *, address: str, threads: int = 8) -> RpcServer:
    """Start a gRPC server beside a service app: its database, token verifier and readiness.

    `register(server, app)` adds the service's servicers and returns their full names.
    """
    ctx = app.extensions["bazaar"]
    return RpcServer(
        service=ctx.settings.service_name,
        db=ctx.db,
        verifier=ctx.verifier,
        health_checks=ctx.health,
        register=lambda server: register(server, app),
        address=address,
        threads=threads,
    ).start()
