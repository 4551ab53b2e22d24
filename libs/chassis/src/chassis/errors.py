"""Errors that know their HTTP status, rendered as RFC 9457 problem details."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, ClassVar

from chassis.tracing import current_trace_id

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "/problems/"

# Stable problem types for statuses raised by the frameworks rather than by our code.
_SLUG_BY_STATUS: dict[int, str] = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    429: "too-many-requests",
    500: "internal-error",
    502: "bad-gateway",
    503: "service-unavailable",
    504: "gateway-timeout",
}


def problem_type(slug: str) -> str:
    """The stable `type` URI of a problem slug."""
    return PROBLEM_TYPE_BASE + slug


def slug_for_status(status: int) -> str:
    """The problem slug used for a bare HTTP status."""
    return _SLUG_BY_STATUS.get(status, "http-" + str(status))


def problem_body(
    status: int,
    *,
    slug: str | None = None,
    title: str | None = None,
    detail: str | None = None,
    instance: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build an RFC 9457 problem document."""
    body: dict[str, Any] = {
        "type": problem_type(slug or slug_for_status(status)),
        "title": title or _reason(status),
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    if extra:
        body.update(extra)
    # Next to the X-Request-ID header: the trace to look up (`bazaar trace`, Jaeger).
    trace_id = current_trace_id()
    if trace_id:
        body.setdefault("trace_id", trace_id)
    return body


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class ProblemError(Exception):
    """Base of every error a service raises on purpose; subclasses set the status."""

    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal Server Error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.extra = extra or {}
        self.headers = headers or {}

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        """Render as a problem document."""
        return problem_body(
            self.status,
            slug=self.slug,
            title=self.title,
            detail=self.detail,
            instance=instance,
            extra=self.extra,
        )


class BadRequest(ProblemError):
    """The request is malformed."""

    status, slug, title = 400, "bad-request", "Bad Request"


class InvalidCursor(BadRequest):
    """A pagination cursor was malformed or tampered with."""

    slug, title = "invalid-cursor", "Invalid cursor"


class MalformedJson(BadRequest):
    """The request body does not parse as JSON; `line` and `column` say where it broke."""

    slug, title = "malformed-json", "Malformed JSON"


class ValidationFailed(ProblemError):
    """The request is well formed but its content is invalid."""

    status, slug, title = 422, "validation-error", "Validation failed"


class Unauthorized(ProblemError):
    """No valid credentials were presented."""

    status, slug, title = 401, "unauthorized", "Unauthorized"

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        headers = kwargs.pop("headers", None) or {}
        headers.setdefault("WWW-Authenticate", 'Bearer realm="bazaar"')
        super().__init__(detail, headers=headers, **kwargs)


class Forbidden(ProblemError):
    """The caller is known but not allowed."""

    status, slug, title = 403, "forbidden", "Forbidden"


class NotFound(ProblemError):
    """The resource does not exist (or the caller may not know that it does)."""

    status, slug, title = 404, "not-found", "Not Found"


class Conflict(ProblemError):
    """The request conflicts with the current state."""

    status, slug, title = 409, "conflict", "Conflict"


class PayloadTooLarge(ProblemError):
    """The request body is over the limit."""

    status, slug, title = 413, "payload-too-large", "Payload Too Large"


class UnsupportedMediaType(ProblemError):
    """The request body is not in a media type the endpoint accepts."""

    status, slug, title = 415, "unsupported-media-type", "Unsupported Media Type"


class BadGateway(ProblemError):
    """An upstream answered with something unusable or refused the connection."""

    status, slug, title = 502, "bad-gateway", "Bad Gateway"


class ServiceUnavailable(ProblemError):
    """A dependency is down or its circuit is open."""

    status, slug, title = 503, "service-unavailable", "Service Unavailable"


class GatewayTimeout(ProblemError):
    """An upstream did not answer in time."""

    status, slug, title = 504, "gateway-timeout", "Gateway Timeout"
