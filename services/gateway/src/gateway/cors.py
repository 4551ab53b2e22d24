"""CORS at the edge: the allowed origins' pages may call the API; preflights end here."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from chassis.asgi import problem_response
from gateway.ratelimit import RATELIMIT_HEADERS
from gateway.settings import GatewaySettings

# What the storefront's API client sends beyond the CORS-safelisted headers.
ALLOWED_HEADERS = (
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "If-None-Match",
    "X-Request-Id",
)
ALLOWED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
# Readable by the page's script: ids to quote, validators, where a created thing is, limits.
EXPOSED_HEADERS = (
    "X-Request-Id", "ETag", "Location", "Retry-After",
    *(name.decode().title() for name in RATELIMIT_HEADERS),
)  # fmt: skip


class ProblemCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, with a refused preflight answered as a problem document."""

    def preflight_response(self, request_headers: Headers) -> Response:
        """The preflight answer; a refusal is 403 `/problems/cors-refused`, saying what."""
        response = super().preflight_response(request_headers)
        if response.status_code == 200:
            return response
        headers = {
            name: value
            for name, value in response.headers.items()
            if name.lower() not in ("content-length", "content-type")
        }
        refused = bytes(response.body).decode().removeprefix("Disallowed CORS ")
        return problem_response(
            403,
            f"This cross-origin request is not allowed (its {refused}).",
            "",
            headers=headers,
            slug="cors-refused",
            title="Cross-origin request refused",
        )


def cors_middleware(settings: GatewaySettings) -> list[Middleware]:
    """The CORS middleware when origins are configured; none (CORS off) by default."""
    if not settings.cors_origins:
        return []
    return [
        Middleware(
            ProblemCORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=ALLOWED_METHODS,
            allow_headers=ALLOWED_HEADERS,
            allow_credentials=settings.cors_allow_credentials,
            expose_headers=EXPOSED_HEADERS,
            max_age=settings.cors_max_age,
        )
    ]
