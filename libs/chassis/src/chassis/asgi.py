"""The chassis for ASGI (Starlette) apps: the same request ids, logs, errors and metrics."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from prometheus_client import Counter, Histogram
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chassis import faults, tracing
from chassis.errors import PROBLEM_CONTENT_TYPE, ProblemError, problem_body
from chassis.health import HealthChecks
from chassis.logging import configure_service_logging, get_logger
from chassis.metrics import LATENCY, REQUESTS, render_latest
from chassis.requestid import accept_or_generate, set_request_id
from chassis.settings import ServiceSettings

log = get_logger("chassis.asgi")
# Probes and scrapes arrive every second: not traces anyone looks for.
_UNTRACED = frozenset({"/livez", "/readyz", "/metrics"})

# A readiness check that awaits its dependency instead of blocking a thread; raises when down.
AsyncCheck = Callable[[], Awaitable[None]]


class ProblemResponse(JSONResponse):
    """A JSON response with the problem+json media type."""

    media_type = PROBLEM_CONTENT_TYPE


def problem_response(
    status: int,
    detail: str | None,
    path: str,
    headers: Mapping[str, str] | None = None,
    **kw: Any,
) -> ProblemResponse:
    """Render a problem document for an ASGI app."""
    return ProblemResponse(
        problem_body(status, detail=detail, instance=path, **kw),
        status_code=status,
        headers=headers,
    )


class AccessLog:
    """The request line, rendered by the configured structlog processors and renderer.

    Through stdlib logging a line costs ~35 µs (a LogRecord, its copy, handler locks), as
    much as the gateway's whole answer from its cache; the configured processors and
    renderer write the same line in ~8 µs. Any configuration other than
    `chassis.logging`'s (structlog into one `ProcessorFormatter` handler) gets `log.info`.
    Lines are written at once and flushed once per turn of the event loop: one write
    call for every request that finished in it, not one each.
    """

    def __init__(self) -> None:
        self._logger = logging.getLogger("chassis.asgi")
        self._handler: logging.Handler | None = None
        self._stream: Any = None
        self._chain: list[Any] = []
        self._flush_pending = False

    def __call__(self, **fields: Any) -> None:
        """Log `request` with these fields at info."""
        if not self._logger.isEnabledFor(logging.INFO):
            return
        handlers = logging.getLogger().handlers
        if len(handlers) != 1 or handlers[0] is not self._handler:
            self._resolve(handlers)
        if self._stream is None:
            log.info("request", **fields)
            return
        event: Any = {**fields, "event": "request"}
        for processor in self._chain:
            event = processor(self._logger, "info", event)
        handler = self._handler
        assert isinstance(handler, logging.StreamHandler)  # noqa: S101 - set with the stream
        handler.acquire()
        try:
            self._stream.write(event + handler.terminator)
        except (OSError, ValueError):
            pass  # as with logging's handlers: a lost log line must not fail the request
        finally:
            handler.release()
        if not self._flush_pending:
            try:
                asyncio.get_running_loop().call_soon(self._flush)
            except RuntimeError:  # no loop: flush now
                self._flush()
                return
            self._flush_pending = True

    def _flush(self) -> None:
        self._flush_pending = False
        handler = self._handler
        if handler is None:
            return
        handler.acquire()
        try:
            handler.stream.flush()  # type: ignore[attr-defined]
        except (OSError, ValueError):
            pass
        finally:
            handler.release()

    def _resolve(self, handlers: list[logging.Handler]) -> None:
        """Adopt the current configuration when it is chassis.logging's, else none."""
        self._handler = handlers[0] if len(handlers) == 1 else None
        self._stream, self._chain = None, []
        handler = self._handler
        processors = structlog.get_config()["processors"]
        if (
            not isinstance(handler, logging.StreamHandler)
            or type(handler.formatter) is not structlog.stdlib.ProcessorFormatter
            or handler.filters
            or self._logger.filters
            or not processors
            or processors[-1] is not structlog.stdlib.ProcessorFormatter.wrap_for_formatter
        ):
            return
        # The structlog chain up to the hand-over to stdlib, then the formatter's renderer
        # (its other processors only strip what the hand-over added).
        self._chain = [*processors[:-1], handler.formatter.processors[-1]]
        self._stream = handler.stream


class RequestContextMiddleware:
    """Request id in and out, one access log line and latency metrics per request."""

    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app = app
        self.service = service
        self.access_log = AccessLog()
        # prometheus_client's labels() validates and locks on every call; the children
        # are the same objects each time.
        self._metrics: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = traceparent = tracestate = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
            elif name == b"traceparent":
                traceparent = value.decode("latin-1")
            elif name == b"tracestate":
                tracestate = value.decode("latin-1")
        request_id = accept_or_generate(incoming)
        set_request_id(request_id)
        path = scope["path"]
        server_span = (
            None
            if path in _UNTRACED
            else tracing.start_server_span(scope["method"], traceparent, tracestate)
        )
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"
                ]
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "<unmatched>"
            if template != "/metrics":
                elapsed = time.perf_counter() - started
                method = scope["method"]
                self._observe(method, template, status, elapsed)
                self.access_log(
                    method=method,
                    path=scope["path"],
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                    request_id=request_id,
                )
            if server_span is not None:
                server_span.finish(
                    status,
                    route=getattr(route, "path", None),
                    **{
                        "http.request.method": scope["method"],
                        "url.path": path,
                        tracing.REQUEST_ID: request_id,
                    },
                )
            set_request_id(None)

    def _observe(self, method: str, template: str, status: int, seconds: float) -> None:
        """`chassis.metrics.observe_request`, with the labelled children kept."""
        key = (method, template, status)
        children = self._metrics.get(key)
        if children is None:
            children = (
                REQUESTS.labels(self.service, method, template, str(status)),
                LATENCY.labels(self.service, method, template),
            )
            self._metrics[key] = children
        children[0].inc()
        children[1].observe(seconds)


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)  # noqa: S101 - registered for this type only
    return ProblemResponse(
        exc.to_problem(instance=request.url.path), status_code=exc.status, headers=exc.headers
    )


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101
    return problem_response(exc.status_code, exc.detail, request.url.path, headers=exc.headers)


async def _on_unhandled(request: Request, exc: Exception) -> Response:
    log.error("unhandled error", exc_info=exc, path=request.url.path)
    tracing.record_error(exc)
    return problem_response(500, "An unexpected error occurred.", request.url.path)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ProblemError: _on_problem,
    StarletteHTTPException: _on_http_exception,
    Exception: _on_unhandled,
}


def operational_routes(
    health: HealthChecks,
    async_checks: Mapping[str, AsyncCheck] | None = None,
    advisory_checks: Mapping[str, AsyncCheck] | None = None,
) -> list[Route]:
    """`/livez`, `/readyz` and `/metrics`; readyz fails on `health`/`async_checks` only."""
    # `advisory_checks` are reported (`"required": false`, status "degraded") but leave
    # the app ready: a dependency shared by every replica must not unready them all.
    required = dict(async_checks or {})
    advisory = dict(advisory_checks or {})

    async def livez(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        report: dict[str, Any]
        ok, report = True, {"status": "ok", "checks": {}}
        if health.checks:
            ok, report = await run_in_threadpool(health.run)
        checks = [*required.items(), *advisory.items()]
        degraded = False
        if checks:
            results = await asyncio.gather(*(_timed(check) for _name, check in checks))
            for (name, _check), result in zip(checks, results, strict=True):
                if name in advisory:
                    result["required"] = False
                    degraded = degraded or result["status"] != "ok"
                else:
                    ok = ok and result["status"] == "ok"
                report["checks"][name] = result
        report["status"] = "failing" if not ok else "degraded" if degraded else "ok"
        return JSONResponse(report, status_code=200 if ok else 503)

    async def metrics(_: Request) -> Response:
        payload, content_type = render_latest()
        return Response(payload, media_type=content_type)

    return [
        Route("/livez", livez, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]


async def _timed(check: AsyncCheck) -> dict[str, Any]:
    """One async check's outcome in the same shape as `HealthChecks.run` reports it."""
    started = time.perf_counter()
    result: dict[str, Any] = {"status": "ok"}
    try:
        await check()
    except Exception as exc:
        result = {"status": "failing", "error": type(exc).__name__}
    result["ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result


def init_asgi_service(app: Starlette, settings: ServiceSettings) -> None:
    """Logging and the request-context middleware for an ASGI service."""
    configure_service_logging(settings)
    tracing.configure_tracing(settings)
    faults.configure(settings)
    app.add_middleware(RequestContextMiddleware, service=settings.service_name)
