"""Gateway settings: upstream services, their timeouts, and the edge rate limits."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, ClassVar

from limits import parse_many
from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode

from chassis.settings import ServiceSettings

# An upstream's name is one path segment of `/api/<name>/...`; `/api/docs` is the gateway's.
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
_RESERVED = frozenset({"docs"})
# A strict route is one method and one public path, e.g. `POST /api/auth/token`.
_STRICT_ROUTE = re.compile(r"^[A-Z]+ /api/[a-z][a-z0-9-]{0,31}(/[^\s/]+)+$")
# An origin as a browser sends it: scheme, host, optional port; no path, no trailing slash.
_ORIGIN = re.compile(
    r"^https?://[a-z0-9.-]+(:[0-9]{1,5})?$|^https?://\[[0-9a-f:.]+\](:[0-9]{1,5})?$"
)

DEFAULT_UPSTREAMS: dict[str, tuple[str, ...]] = {
    "catalog": ("http://127.0.0.1:8001",),
    "auth": ("http://127.0.0.1:8002",),
    "users": ("http://127.0.0.1:8003",),
    "orders": ("http://127.0.0.1:8004",),
    "payments": ("http://127.0.0.1:8005",),
}


def _check_limit(value: str) -> str:
    """A rate limit in `limits` notation ("10/minute", "5/second;100/hour")."""
    try:
        parse_many(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a rate limit such as '10/minute'") from exc
    return value


class GatewaySettings(ServiceSettings):
    """`BAZAAR_GATEWAY_UPSTREAMS` is JSON, one URL or a list of them per service.

    `{"catalog": "http://10.0.0.5:8001", "orders": ["http://10.0.0.6:8004",
    "http://10.0.0.7:8004"]}`: requests are balanced over the instances of a service.
    """

    service_name: ClassVar[str] = "gateway"
    default_port: ClassVar[int] = 8000

    upstreams: dict[str, tuple[str, ...]] = Field(
        default=DEFAULT_UPSTREAMS,
        description="per service, one base URL, or a list of them: its instances, balanced",
    )
    upstream_connect_timeout: float = 1.0
    upstream_read_timeout: float = 10.0
    web_dir: Path | None = Field(
        default=None,
        description="the built storefront (`web/dist`) served at `/`; default: the source "
        "checkout's, when built (container images set it)",
    )
    upstream_attempts: int = Field(
        default=3,
        ge=1,
        le=10,
        description="tries per request, over the instances in turn (a lone one: again); "
        "once a request reached an instance, only a replayable one is tried again",
    )
    upstream_health_interval: float = Field(
        default=1.0, gt=0, description="seconds between probes of every instance's `/livez`"
    )
    upstream_health_timeout: float = Field(
        default=0.5, gt=0, description="a probe not answered 200 in this many seconds failed"
    )
    upstream_unhealthy_threshold: int = Field(
        default=2,
        ge=1,
        description="failures in a row (probes, or requests that could not reach it) "
        "that eject an instance; its very first failure ejects it at once",
    )
    upstream_healthy_threshold: int = Field(
        default=2, ge=1, description="probes passed in a row that take an ejected instance back"
    )

    cached_services: frozenset[str] = Field(
        default=frozenset({"catalog"}),
        description="services whose public answers to anonymous GETs the gateway caches; "
        "each must bump its `public` cache generation on every change (catalog does)",
    )
    cache_ttl: float = Field(
        default=300.0, gt=0, description="seconds a cached answer is kept at most"
    )
    cache_local_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=0,
        description="bytes of cached answers each gateway process also keeps in memory",
    )
    cache_local_ttl: float = Field(
        default=1.0,
        gt=0,
        description="seconds an answer is kept in a gateway process's memory at most: "
        "the bound on a stale page after the shared store loses its data",
    )
    # Rate limits on proxied `/api/<name>/...` calls, in `limits` notation; the store is
    # Redis when `BAZAAR_REDIS_URL` is set (shared by every worker and replica), else memory.
    rate_limits_enabled: bool = True
    rate_limit_authenticated: str = "600/minute"  # per verified token `sub`
    rate_limit_anonymous: str = "300/minute"  # per client IP (IPv6: per /64)
    # Per client IP, on top of the limits above: credential guessing and sign-up floods
    # (`/authorize`: the sign-in and registration pages).
    rate_limit_strict: dict[str, str] = {
        "POST /api/auth/token": "10/minute",
        "POST /api/auth/register": "10/minute",
        "POST /api/auth/authorize": "10/minute",
    }
    # Upstreams refused (503) while the rate-limit store is down; the others are served
    # without limits. Unlimited login attempts would defeat the strict limits.
    rate_limit_fail_closed: frozenset[str] = frozenset({"auth"})
    rate_limit_redis_timeout: float = 0.25
    rate_limit_key_prefix: str = "bazaar:ratelimit"

    cors_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="origins whose pages may call the API from a browser (CORS), exactly as "
        "the browser sends them (`http://localhost:5173`), as a JSON list or comma-separated; "
        "`*` for any (not with credentials); empty: CORS off",
    )
    cors_allow_credentials: bool = Field(
        default=False,
        description="let those pages send cookies (`Access-Control-Allow-Credentials`); "
        "needs exact origins",
    )
    cors_max_age: int = Field(
        default=600, ge=0, le=86400, description="seconds a browser may reuse a preflight answer"
    )

    @field_validator("upstreams", mode="before")
    @classmethod
    def _one_url_or_several(cls, upstreams: Any) -> Any:
        # The single-URL form stays valid everywhere: it is a list of one.
        if isinstance(upstreams, dict):
            return {name: [u] if isinstance(u, str) else u for name, u in upstreams.items()}
        return upstreams

    @field_validator("upstreams")
    @classmethod
    def _check_upstreams(cls, upstreams: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        checked = {}
        for name, urls in upstreams.items():
            if not _NAME.match(name) or name in _RESERVED:
                raise ValueError(f"upstream name {name!r} must match {_NAME.pattern}, not be docs")
            if not urls:
                raise ValueError(f"upstream {name!r} needs at least one URL")
            for url in urls:
                if not url.startswith(("http://", "https://")):
                    raise ValueError(f"upstream {name!r} needs http(s) URLs, not {url!r}")
            checked[name] = tuple(url.rstrip("/") for url in urls)
            if len(set(checked[name])) < len(urls):
                raise ValueError(f"upstream {name!r} lists an instance twice")
        return checked

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _list_or_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        for origin in origins:
            if origin != "*" and not _ORIGIN.match(origin):
                raise ValueError(
                    f"CORS origin {origin!r} must be scheme://host[:port] in lower case, "
                    "with no path or trailing slash (as a browser sends it), or *"
                )
        if "*" in origins and len(origins) > 1:
            raise ValueError("CORS origins: * already allows every origin; list it alone")
        return origins

    @model_validator(mode="after")
    def _no_wildcard_with_credentials(self) -> GatewaySettings:
        if self.cors_allow_credentials and "*" in self.cors_origins:
            # Browsers refuse `*` with credentials; echoing any origin instead would let
            # every site on the web make calls with the visitor's cookies.
            raise ValueError(
                "BAZAAR_GATEWAY_CORS_ORIGINS=* cannot go with CORS_ALLOW_CREDENTIALS: "
                "list the exact origins"
            )
        return self

    @field_validator("rate_limit_authenticated", "rate_limit_anonymous")
    @classmethod
    def _check_limits(cls, value: str) -> str:
        return _check_limit(value)

    @field_validator("rate_limit_strict")
    @classmethod
    def _check_strict(cls, routes: dict[str, str]) -> dict[str, str]:
        for route, value in routes.items():
            if not _STRICT_ROUTE.match(route):
                raise ValueError(f"{route!r} must look like 'POST /api/auth/token'")
            _check_limit(value)
        return routes
