"""structlog configured once per process: JSON lines, or readable lines on a terminal."""

from __future__ import annotations

import logging
import os
import sys
from typing import IO, TYPE_CHECKING, Any, Literal

import structlog

from chassis.tracing import add_trace_ids

if TYPE_CHECKING:
    from chassis.settings import ServiceSettings

LogFormat = Literal["auto", "console", "json"]

# The fields a reader wants first on a request line, in this order; the rest follow.
_REQUEST_FIELDS = ("method", "path", "status", "duration_ms")
# Said by the line's prefix (the supervisor names each process) or not worth the width.
_CONSOLE_HIDDEN = frozenset({"service", "logger"})
_LEVEL_COLORS = {
    "debug": "\033[2m",
    "info": "\033[32m",
    "warning": "\033[33m",
    "error": "\033[31m",
    "critical": "\033[1;31m",
}
_DIM, _BOLD, _RESET = "\033[2m", "\033[1m", "\033[0m"


def wants_json(log_format: LogFormat, *, production: bool, stream: IO[str] | None = None) -> bool:
    """JSON unless asked for console lines, or on a terminal outside production."""
    if log_format != "auto":
        return log_format == "json"
    return production or not (stream or sys.stdout).isatty()


def wants_color(stream: IO[str] | None = None) -> bool:
    """Colours on a terminal or with FORCE_COLOR (the supervisor's pipes), never with NO_COLOR."""
    if os.environ.get("NO_COLOR"):
        return False
    return bool(os.environ.get("FORCE_COLOR")) or (stream or sys.stdout).isatty()


def configure_service_logging(settings: ServiceSettings) -> None:
    """Logging as a service's settings ask (`BAZAAR_LOG_FORMAT`, `BAZAAR_LOG_LEVEL`)."""
    configure_logging(
        level=settings.log_level,
        json=wants_json(settings.log_format, production=settings.env == "production"),
        service=settings.service_name,
    )


def configure_logging(
    *, level: str = "INFO", json: bool = True, service: str = "", colors: bool | None = None
) -> None:
    """Route stdlib and structlog output through one JSON (or console) renderer."""
    # Console lines carry the local time of day: the reader is at the terminal, now.
    stamper = (
        structlog.processors.TimeStamper(fmt="iso", utc=True)
        if json
        else structlog.processors.TimeStamper(fmt="%H:%M:%S", utc=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        add_trace_ids,
        structlog.stdlib.add_log_level,
        stamper,
    ]
    if service:
        shared.insert(0, _add_service(service))
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else ConsoleLine(colors=wants_color() if colors is None else colors)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Access lines come from our own middleware, with the request id; avoid duplicates.
    for noisy in ("werkzeug", "uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class ConsoleLine:
    """`11:49:32 INFO  GET /products 200 21.4ms  id=b136196e`: one short line per event.

    A request line leads with method, path, status and duration, and shortens the request
    id to what a reader needs to match a gateway line with the service's; other events
    show their message, then their fields as `key=value`.
    """

    def __init__(self, *, colors: bool) -> None:
        self.colors = colors

    def _paint(self, code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if self.colors else text

    def __call__(self, _: Any, __: str, event: dict[str, Any]) -> str:
        """Render one event."""
        event = dict(event)
        timestamp = str(event.pop("timestamp", ""))
        level = str(event.pop("level", "info"))
        message = str(event.pop("event", ""))
        exception = event.pop("exception", None)
        for hidden in _CONSOLE_HIDDEN:
            event.pop(hidden, None)
        if message == "request" and all(name in event for name in _REQUEST_FIELDS):
            status = int(event.pop("status"))
            shown = str(status)
            if status >= 400:
                shown = self._paint(_LEVEL_COLORS["error" if status >= 500 else "warning"], shown)
            message = (
                f"{event.pop('method')} {event.pop('path')} {shown} {event.pop('duration_ms')}ms"
            )
            request_id = event.pop("request_id", None)
            if request_id:
                event["id"] = str(request_id)[:8]
        else:
            message = self._paint(_BOLD, message) if level in ("warning", "error") else message
        fields = " ".join(f"{key}={_plain(value)}" for key, value in event.items())
        parts = [
            self._paint(_DIM, timestamp),
            self._paint(_LEVEL_COLORS.get(level, ""), f"{level.upper():<5}"),
            message,
        ]
        if fields:
            parts.append(self._paint(_DIM, fields))
        line = " ".join(part for part in parts if part)
        if exception:
            line += "\n" + str(exception)
        return line


def _plain(value: Any) -> str:
    """Lists as `a,b,c`: a reader's form, not Python's."""
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(str(item) for item in value)
    return str(value)


def _add_service(service: str) -> Any:
    def processor(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
        event.setdefault("service", service)
        return event

    return processor


def get_logger(name: str) -> Any:
    """A structlog logger."""
    return structlog.get_logger(name)
