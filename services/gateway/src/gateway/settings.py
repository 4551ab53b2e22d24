"""Gateway settings: where each upstream service lives and how long to wait for it."""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import field_validator

from chassis.settings import ServiceSettings

# An upstream's name is one path segment of `/api/<name>/...`; `/api/docs` is the gateway's.
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
_RESERVED = frozenset({"docs"})


class GatewaySettings(ServiceSettings):
    """`BAZAAR_GATEWAY_UPSTREAMS` is JSON: `{"catalog": "http://127.0.0.1:8001"}`."""

    service_name: ClassVar[str] = "gateway"
    default_port: ClassVar[int] = 8000

    upstreams: dict[str, str] = {"catalog": "http://127.0.0.1:8001"}
    upstream_connect_timeout: float = 1.0
    upstream_read_timeout: float = 10.0

    @field_validator("upstreams")
    @classmethod
    def _check_upstreams(cls, upstreams: dict[str, str]) -> dict[str, str]:
        for name, url in upstreams.items():
            if not _NAME.match(name) or name in _RESERVED:
                raise ValueError(f"upstream name {name!r} must match {_NAME.pattern}, not be docs")
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"upstream {name!r} needs an http(s) URL, not {url!r}")
        return {name: url.rstrip("/") for name, url in upstreams.items()}
