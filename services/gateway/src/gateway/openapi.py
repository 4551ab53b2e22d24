"""One OpenAPI document for the whole platform, merged from every upstream's own."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chassis.errors import ProblemError
from chassis.logging import get_logger
from chassis.metrics import DEGRADED
from chassis.openapi import PROBLEM_SCHEMA, prefix_paths
from gateway.upstreams import PROBE_TIMEOUT, Upstreams

log = get_logger("gateway.openapi")

BEARER_AUTH = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
# Where the bearer tokens come from: auth's token endpoint, which answers a refused grant
# with 400 as RFC 6749 §5.2 says (clients and schemathesis learn that from `tokenUrl`).
TOKEN_URL = "/api/auth/token"  # noqa: S105 - a path, not a secret
OAUTH2 = {
    "type": "oauth2",
    "description": "Tokens for `BearerAuth`, from the auth service's token endpoint.",
    "flows": {
        "password": {"tokenUrl": TOKEN_URL, "scopes": {}},
        "clientCredentials": {"tokenUrl": TOKEN_URL, "scopes": {}},
    },
}
# A service generates its document on request; give it longer than a liveness probe.
FETCH_TIMEOUT = 4 * PROBE_TIMEOUT


def merge_documents(
    documents: Mapping[str, dict[str, Any]], unavailable: Sequence[str]
) -> dict[str, Any]:
    """An OpenAPI 3.1 document with each service's paths under `/api/<name>`."""
    paths: dict[str, Any] = {}
    components: dict[str, dict[str, Any]] = {
        "schemas": {"Problem": PROBLEM_SCHEMA},
        "securitySchemes": {"BearerAuth": BEARER_AUTH},
    }
    tags = []
    for name, document in documents.items():
        part = prefix_paths(document, f"/api/{name}", tag=name)
        paths.update(part["paths"])
        for section, entries in part["components"].items():
            merged = components.setdefault(section, {})
            for key, value in entries.items():
                merged.setdefault(key, value)
        info = document.get("info") or {}
        tags.append({"name": name, "description": info.get("title") or name})
    merged_document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "Bazaar API", "version": "1.0.0"},
        "servers": [{"url": "/"}],
        "tags": tags,
        "paths": paths,
        "components": components,
    }
    if "auth" in documents:
        components["securitySchemes"]["OAuth2"] = OAUTH2
    if unavailable:
        merged_document["x-unavailable"] = sorted(unavailable)
    return merged_document


class ApiDocument:
    """The merged document; each service's part is kept once fetched, retried until then."""

    def __init__(self, upstreams: Upstreams) -> None:
        self.upstreams = upstreams
        self._parts: dict[str, dict[str, Any]] = {}
        self._complete: dict[str, Any] | None = None

    async def document(self) -> dict[str, Any]:
        """The merged document, listing in `x-unavailable` the services that did not answer."""
        if self._complete is not None:
            return self._complete
        missing = [name for name in self.upstreams.names if name not in self._parts]
        fetched = await asyncio.gather(*(self._fetch(name) for name in missing))
        for name, part in zip(missing, fetched, strict=True):
            if part is not None:
                self._parts[name] = part
        names = self.upstreams.names
        document = merge_documents(
            {name: self._parts[name] for name in names if name in self._parts},
            [name for name in names if name not in self._parts],
        )
        if "x-unavailable" not in document:
            self._complete = document
        return document

    async def endpoint(self, _: Request) -> Response:
        """`GET /api/openapi.json`."""
        return JSONResponse(await self.document())

    async def _fetch(self, name: str) -> dict[str, Any] | None:
        try:
            # Not replayed on another instance after a failure: the page is fetched again
            # on the next request for it anyway.
            async with self.upstreams[name].exchange(
                "GET", b"/openapi.json", replayable=False, timeout=FETCH_TIMEOUT
            ) as (_, response):
                await response.aread()
            response.raise_for_status()
            document = response.json()
        except (ProblemError, httpx.HTTPError, ValueError) as exc:
            DEGRADED.labels("gateway", f"openapi:{name}").inc()
            log.warning("openapi document unavailable", upstream=name, error=type(exc).__name__)
            return None
        return document if isinstance(document, dict) else None
