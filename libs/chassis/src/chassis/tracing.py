"""OpenTelemetry traces: one `configure_tracing` call per process, spans made cheap when dropped.

Server spans come from the chassis' own request hooks (Flask and the ASGI middleware), not
from the OpenTelemetry Flask/ASGI middleware, which collects attributes and wraps every
request whether or not it is sampled. Here the sampler decides first; an unsampled request
gets a non-recording span that only carries the context (and its `traceparent`) onwards.
SQL and Redis spans are made only inside a recording span, so pollers and background loops
never start traces of their own. ADR 0024.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from chassis.settings import ServiceSettings

ORDER_ID = "bazaar.order_id"
REQUEST_ID = "bazaar.request_id"
EVENT_ID = "bazaar.event_id"
EVENT_TYPE = "bazaar.event_type"
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"

_PROPAGATOR = TraceContextTextMapPropagator()
_INVALID = trace.INVALID_SPAN


@dataclass
class _Active:
    provider: TracerProvider
    tracer: trace.Tracer
    service: str


_active: _Active | None = None
_redis_instrumented = False


def enabled() -> bool:
    """Whether this process records traces."""
    return _active is not None


def configure_tracing(settings: ServiceSettings, service_name: str | None = None) -> bool:
    """Set up the SDK from settings: OTLP export when configured, else the span store.

    `BAZAAR_OTEL_ENABLED=false` sets nothing up at all. A second call (tests, a process
    that builds several apps) replaces the first, flushing what it held.
    """
    global _active
    if not settings.otel_enabled:
        shutdown()
        return False
    name = service_name or settings.service_name
    resource = Resource.create(
        {SERVICE_NAME: name, SERVICE_VERSION: _version_of(settings.service_name)}
    )
    provider = TracerProvider(
        resource=resource,
        sampler=ParentBased(TraceIdRatioBased(settings.otel_sample_ratio)),
    )
    exporter = _exporter(settings)
    # The span file is read by someone at a terminal who just placed an order: a second's
    # wait, not the SDK's five (OTEL_BSP_SCHEDULE_DELAY still decides when it is set).
    delay = None if _otlp_endpoint() or "OTEL_BSP_SCHEDULE_DELAY" in os.environ else 1000
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=delay))
    shutdown()
    _active = _Active(provider, provider.get_tracer("chassis"), name)
    if trace.get_tracer_provider() is not _SWITCH:
        trace.set_tracer_provider(_SWITCH)
    _instrument_redis()
    return True


def shutdown() -> None:
    """Flush and stop the current provider, if any; traces are off until configured again."""
    global _active
    previous, _active = _active, None
    if previous is not None:
        previous.provider.shutdown()


def force_flush(timeout_millis: int = 5000) -> None:
    """Export what is buffered now (a worker about to exit, a test about to read)."""
    if _active is not None:
        _active.provider.force_flush(timeout_millis)


def _version_of(service: str) -> str:
    for distribution in (service, "chassis"):
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "0"


def _otlp_endpoint() -> str | None:
    return os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )


def _exporter(settings: ServiceSettings) -> SpanExporter:
    if _otlp_endpoint():
        protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
            "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"
        )
        # Both exporters read the endpoint, headers and timeouts from OTEL_* themselves.
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter as GrpcExporter,
            )

            return GrpcExporter()
        if protocol == "http/protobuf":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                OTLPSpanExporter as HttpExporter,
            )

            return HttpExporter()
        raise ValueError(f"OTEL_EXPORTER_OTLP_PROTOCOL {protocol!r}: use grpc or http/protobuf")
    from chassis.spanstore import SpanStore, SpanStoreExporter

    return SpanStoreExporter(SpanStore.of(settings))


# -- the tracer instrumentations get ---------------------------------------------------------


class _ChildTracer(trace.Tracer):
    """The active tracer, but only below a recording span: SQL and Redis never start traces."""

    def start_span(
        self,
        name: str,
        context: otel_context.Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> Span:
        """A child span when traces are on and the parent records; the invalid span otherwise."""
        active = _active
        if active is None or not trace.get_current_span(context).is_recording():
            return _INVALID
        return active.tracer.start_span(
            name, context, kind, attributes, links, start_time, record_exception,
            set_status_on_exception,
        )  # fmt: skip

    @contextmanager
    def start_as_current_span(  # type: ignore[override]
        self,
        name: str,
        context: otel_context.Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[Span]:
        """As `start_span`, made current for the block."""
        span = self.start_span(name, context, kind, attributes, links, start_time)
        with trace.use_span(
            span,
            end_on_exit=end_on_exit,
            record_exception=record_exception,
            set_status_on_exception=set_status_on_exception,
        ) as current:
            yield current


class _SwitchProvider(trace.TracerProvider):
    """The global provider: every tracer it hands out follows `configure_tracing`."""

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        """The one child-only tracer."""
        return _CHILD


_CHILD = _ChildTracer()
_SWITCH = _SwitchProvider()


def _instrument_redis() -> None:
    global _redis_instrumented
    if _redis_instrumented:
        return
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    RedisInstrumentor().instrument(tracer_provider=_SWITCH)
    _redis_instrumented = True


def instrument_engine(engine: Engine) -> None:
    """A span per SQL statement run inside a recording span (none otherwise: no cost)."""
    from sqlalchemy import event

    # A SQLite URL names a file: its stem (`orders`) is the database's name.
    database = Path(engine.url.database or engine.name).stem

    def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        parent = trace.get_current_span()
        if _active is None or not parent.is_recording():
            return
        operation = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
        span = _active.tracer.start_span(
            f"{operation} {database}",
            kind=SpanKind.CLIENT,
            attributes={
                "db.system.name": engine.dialect.name,
                "db.operation.name": operation,
                "db.query.text": statement[:2000],
            },
        )
        conn.info.setdefault("bazaar_spans", []).append(span)

    def after(conn: Any, *_: Any) -> None:
        spans = conn.info.get("bazaar_spans")
        if spans:
            spans.pop().end()

    def failed(context: Any) -> None:
        spans = context.connection.info.get("bazaar_spans") if context.connection else None
        if spans:
            span = spans.pop()
            span.record_exception(context.original_exception)
            span.set_status(Status(StatusCode.ERROR, type(context.original_exception).__name__))
            span.end()

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    event.listen(engine, "handle_error", failed)


# -- server, client and consumer spans ------------------------------------------------------


def extract(carrier: Mapping[str, str]) -> otel_context.Context | None:
    """The context a `traceparent` (and `tracestate`) carries, or None without one."""
    if TRACEPARENT not in carrier:
        return None
    return _PROPAGATOR.extract(carrier)


class ServerSpan:
    """The span of one incoming request, current until `finish`."""

    __slots__ = ("_token", "span")

    def __init__(self, span: Span, token: object) -> None:
        self.span = span
        self._token = token

    def finish(self, status: int, *, route: str | None = None, **attributes: Any) -> None:
        """Record the answer (5xx: an error) and end the span."""
        span = self.span
        if span.is_recording():
            span.set_attribute("http.response.status_code", status)
            if route:
                span.set_attribute("http.route", route)
                method = attributes.get("http.request.method")
                if method:
                    span.update_name(f"{method} {route}")
            for key, value in attributes.items():
                if value is not None:
                    span.set_attribute(key, value)
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))
        span.end()
        otel_context.detach(self._token)  # type: ignore[arg-type]


def start_server_span(
    name: str, traceparent: str | None, tracestate: str | None = None
) -> ServerSpan | None:
    """Begin a request's span, continuing the caller's trace; None while traces are off."""
    active = _active
    if active is None:
        return None
    parent = None
    if traceparent:
        carrier = {TRACEPARENT: traceparent}
        if tracestate:
            carrier[TRACESTATE] = tracestate
        parent = _PROPAGATOR.extract(carrier)
    span = active.tracer.start_span(name, parent, SpanKind.SERVER)
    token = otel_context.attach(trace.set_span_in_context(span, parent))
    return ServerSpan(span, token)


@contextmanager
def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    parent: otel_context.Context | None = None,
    links: Sequence[Link] | None = None,
    attributes: Attributes = None,
) -> Iterator[Span]:
    """A span current for the block (errors recorded); the invalid span while traces are off."""
    active = _active
    if active is None:
        yield _INVALID
        return
    with active.tracer.start_as_current_span(
        name, parent, kind, attributes=attributes, links=links
    ) as current:
        yield current


@contextmanager
def client_span(name: str, **attributes: Any) -> Iterator[Span]:
    """A span for an outgoing call, made only inside a recording span."""
    if _active is None or not trace.get_current_span().is_recording():
        yield _INVALID
        return
    with _active.tracer.start_as_current_span(name, kind=SpanKind.CLIENT) as current:
        for key, value in attributes.items():
            current.set_attribute(key, value)
        yield current


def start_client_span(name: str, **attributes: Any) -> Span:
    """A client span not made current (an async exchange ends it), inside a recording span."""
    if _active is None or not trace.get_current_span().is_recording():
        return _INVALID
    return _active.tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)


def inject(headers: MutableMapping[str, str]) -> None:
    """Add the current `traceparent`/`tracestate` to outgoing headers (none without a trace)."""
    if _active is not None:
        _PROPAGATOR.inject(headers)


def traceparent_pairs(span: Span | None = None) -> list[tuple[bytes, bytes]]:
    """The trace context of `span` (a valid one), else the current one, as raw header pairs."""
    if span is None or not span.get_span_context().is_valid:
        span = trace.get_current_span()
    context = span.get_span_context()
    if not context.is_valid:
        return []
    pairs = [
        (
            b"traceparent",
            b"00-%032x-%016x-%02x" % (context.trace_id, context.span_id, context.trace_flags),
        )
    ]
    if context.trace_state:
        pairs.append((b"tracestate", context.trace_state.to_header().encode("latin-1")))
    return pairs


def current_carrier() -> dict[str, str]:
    """The current trace context as `traceparent`/`tracestate` (empty without a trace)."""
    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier


def current_trace_id() -> str | None:
    """The current trace id in hex (sampled or not), or None outside a trace."""
    context = trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else None


def link_to(carrier: Mapping[str, Any] | None) -> Link | None:
    """A link to the span a carrier names (a message's producer), or None."""
    if not carrier or TRACEPARENT not in carrier:
        return None
    context = trace.get_current_span(_PROPAGATOR.extract(carrier)).get_span_context()
    return Link(context) if context.is_valid else None


def set_attribute(key: str, value: str | int | float | bool) -> None:
    """Set an attribute on the current span when it records (e.g. `bazaar.order_id`)."""
    current = trace.get_current_span()
    if current.is_recording():
        current.set_attribute(key, value)


def record_error(error: BaseException | str) -> None:
    """Mark the current span failed, with the exception or the reason."""
    current = trace.get_current_span()
    if not current.is_recording():
        return
    if isinstance(error, BaseException):
        current.record_exception(error)
        current.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"[:500]))
    else:
        current.set_status(Status(StatusCode.ERROR, error[:500]))


# -- logs -------------------------------------------------------------------------------------


def add_trace_ids(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: `trace_id` and `span_id` on every line written inside a span."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", f"{context.trace_id:032x}")
        event.setdefault("span_id", f"{context.span_id:016x}")
    return event
