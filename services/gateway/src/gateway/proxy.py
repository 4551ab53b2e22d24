"""The proxy: `/api/<name>/<path>` forwarded to that upstream, its answer streamed back."""

from __future__ import annotations

import posixpath
from urllib.parse import quote

import anyio
import httpx
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from chassis.asgi import problem_response
from chassis.auth import TokenVerifier
from chassis.errors import PROBLEM_CONTENT_TYPE, BadRequest, NotFound, PayloadTooLarge, ProblemError
from chassis.http import IDEMPOTENT_METHODS
from chassis.logging import get_logger
from chassis.metrics import UPSTREAM_FAILURES
from gateway.ratelimit import RATELIMIT_HEADERS, RateLimiter
from gateway.tokens import verify_bearer
from gateway.upstreams import Instance, Upstreams

log = get_logger("gateway.proxy")

# TRACE and CONNECT are refused (405): TRACE echoes credentials back, CONNECT opens tunnels.
PROXIED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# RFC 9110 §7.6.1: these describe one connection, so they never cross the proxy.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# The gateway sets these from what it knows (the chassis adds the request id it accepted),
# so a client cannot forge them; Content-Length follows the body already read in full,
# which also settles any Expect: 100-continue.
_SET_BY_GATEWAY = frozenset(
    {
        b"host",
        b"content-length",
        b"expect",
        b"x-request-id",
        b"forwarded",
        b"x-forwarded-for",
        b"x-forwarded-host",
        b"x-forwarded-proto",
    }
)
# Services may one day trust identity headers from the gateway, so no client may send them.
_IDENTITY_PREFIXES = (b"x-user", b"x-auth")
# The gateway's own server writes these; two Date headers would be invalid.
_SET_BY_SERVER = frozenset({b"date", b"server"})
# A service's operational endpoints are for the cluster, not the internet.
_PRIVATE_PATHS = frozenset({"/livez", "/readyz", "/metrics"})
# Only to decode a raw target the way httpx does; never contacted.
_ANY_HOST = httpx.URL("http://upstream")
# ASGI servers give header names in lower case.
IDEMPOTENCY_KEY = b"idempotency-key"
# Under gunicorn's 4094-byte request line, so a service never meets a target it would
# refuse with its own HTML 414 page.
MAX_TARGET_BYTES = 4000


class UriTooLong(ProblemError):
    """The request target is longer than the services accept."""

    status, slug, title = 414, "uri-too-long", "URI Too Long"


def _connection_tokens(headers: list[tuple[bytes, bytes]]) -> set[bytes]:
    """Hop-by-hop headers plus every header the Connection header names."""
    names = set(HOP_BY_HOP)
    for name, value in headers:
        if name.lower() == b"connection":
            names.update(token.strip().lower() for token in value.split(b","))
    return names


class ProxyEndpoint:
    """ASGI endpoint for one upstream: checks at the edge, forwards, streams the answer back."""

    def __init__(
        self,
        upstreams: Upstreams,
        name: str,
        *,
        verifier: TokenVerifier | None,
        limiter: RateLimiter | None,
        max_body_bytes: int,
    ) -> None:
        self.upstreams = upstreams
        self.name = name
        self.prefix = f"/api/{name}"
        self.verifier = verifier
        self.limiter = limiter
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        target = self._upstream_path(scope)
        if len(target) > MAX_TARGET_BYTES:
            raise UriTooLong(f"The path and query are over {MAX_TARGET_BYTES} bytes.")
        headers, authorizations, declared_length = self._request_headers(scope)
        if declared_length > self.max_body_bytes:
            raise PayloadTooLarge(f"The request body is over {self.max_body_bytes} bytes.")
        principal = await verify_bearer(self.verifier, authorizations)
        quota = None
        if self.limiter is not None:
            quota = await self.limiter.check(
                self.name, scope["method"], scope["path"], scope.get("client"), principal
            )
        if quota is None:
            await self._forward(scope, receive, send, target, headers)
            return
        quota_headers = quota.raw_headers()

        async def send_with_quota(message: Message) -> None:
            if message["type"] == "http.response.start":
                # The gateway's limits replace any an upstream reports about itself.
                message["headers"] = [
                    *(h for h in message["headers"] if h[0].lower() not in RATELIMIT_HEADERS),
                    *quota_headers,
                ]
            await send(message)

        try:
            await self._forward(scope, receive, send_with_quota, target, headers)
        except ProblemError as exc:
            # Rendered by the app's exception handler, outside this endpoint's `send`.
            exc.headers.update(quota.headers())
            raise

    async def _forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        """Read the body, send the request upstream, relay the answer."""
        upstream = self.upstreams[self.name]
        try:
            body = await self._read_body(receive)
        except ClientDisconnect:
            return  # nobody is left to answer
        if _is_private(target):
            raise NotFound()
        method = scope["method"]
        async with upstream.exchange(
            method,
            target,
            replayable=is_replayable(method, headers),
            headers=headers,
            content=body or None,
        ) as (instance, response):
            await self._relay(scope, response, instance, receive, send)

    # -- request --------------------------------------------------------------------

    def _request_headers(self, scope: Scope) -> tuple[list[tuple[bytes, bytes]], list[bytes], int]:
        """Forwardable headers, the Authorization values, and the declared body length."""
        raw: list[tuple[bytes, bytes]] = scope["headers"]
        drop = _connection_tokens(raw)
        forwarded: list[tuple[bytes, bytes]] = []
        authorizations: list[bytes] = []
        host, length, encodings = b"", 0, False
        for name, value in raw:
            if name == b"authorization":
                authorizations.append(value)
            elif name == b"host":
                host = value
            elif name == b"content-length":
                length = _content_length(value)
            elif name == b"accept-encoding":
                encodings = True
            if name in drop or name in _SET_BY_GATEWAY or name.startswith(_IDENTITY_PREFIXES):
                continue
            forwarded.append((name, value))
        client = scope.get("client")
        if client:
            # The gateway is the edge: uvicorn already resolved trusted proxies into
            # scope["client"], so whatever X-Forwarded-For the client sent is replaced.
            forwarded.append((b"x-forwarded-for", client[0].encode("latin-1")))
        forwarded.append((b"x-forwarded-proto", scope["scheme"].encode("latin-1")))
        if host:
            forwarded.append((b"x-forwarded-host", host))
        if not encodings:
            # httpx would otherwise ask for gzip the client never said it could read.
            forwarded.append((b"accept-encoding", b"identity"))
        return forwarded, authorizations, length

    async def _read_body(self, receive: Receive) -> bytes:
        """The whole request body, refused (413) as soon as it passes the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise PayloadTooLarge(f"The request body is over {self.max_body_bytes} bytes.")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _upstream_path(self, scope: Scope) -> bytes:
        """The raw path after `/api/<name>`, with the query string, as the client sent it."""
        raw_path: bytes | None = scope.get("raw_path")
        prefix = self.prefix.encode()
        if raw_path and raw_path.startswith(prefix + b"/"):
            path = raw_path.partition(b"?")[0][len(prefix) :]
        else:  # no raw path from the server, or an escaped prefix: re-encode the decoded one
            path = quote(scope["path"][len(self.prefix) :], safe="/:@!$&'()*+,;=-._~").encode()
        path = path or b"/"
        query: bytes = scope.get("query_string", b"")
        return path + b"?" + query if query else path

    # -- response -------------------------------------------------------------------

    async def _relay(
        self,
        scope: Scope,
        response: httpx.Response,
        instance: Instance,
        receive: Receive,
        send: Send,
    ) -> None:
        """Send the upstream's status and headers, then its body as it arrives."""
        if _is_bare_error(response):
            # Not from the service's code but from its server (gunicorn's HTML error
            # pages): every error leaving the platform is a problem document.
            await response.aclose()
            detail = f"{self.name} answered {response.status_code} without a problem document."
            problem = problem_response(response.status_code, detail, scope["path"])
            await problem(scope, receive, send)
            return
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": self._response_headers(response, instance),
                }
            )
            if "content-length" in response.headers or scope["method"] == "HEAD":
                complete = await self._pump(response, send)
            else:
                complete = await self._pump_until_disconnect(response, receive, send)
        finally:
            await response.aclose()
        if complete:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        # Otherwise the response stays incomplete and the server drops the connection,
        # so the client sees a broken body instead of a short one that looks whole.

    def _response_headers(
        self, response: httpx.Response, instance: Instance
    ) -> list[tuple[bytes, bytes]]:
        raw = response.headers.raw
        drop = _connection_tokens(raw) | _SET_BY_SERVER
        headers: list[tuple[bytes, bytes]] = []
        for name, value in raw:
            name = name.lower()
            if name in drop:
                continue
            if name == b"location":
                value = self._public_location(value, instance)
            headers.append((name, value))
        return headers

    def _public_location(self, location: bytes, instance: Instance) -> bytes:
        """A redirect or Created location rewritten from the instance's URL space to ours."""
        base = instance.endpoint.encode()
        if location.startswith(base + b"/"):
            location = location[len(base) :]
        if location.startswith(b"/") and not location.startswith(b"//"):
            return self.prefix.encode() + location
        return location

    async def _pump(self, response: httpx.Response, send: Send) -> bool:
        """Copy the body to the client; False when either side broke off."""
        try:
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except httpx.HTTPError as exc:
            UPSTREAM_FAILURES.labels("gateway", self.name, "body-broken").inc()
            log.warning("upstream body broke off", upstream=self.name, error=type(exc).__name__)
            return False
        except OSError:  # ASGI 2.4 servers raise it from send() once the client has gone
            return False
        return True

    async def _pump_until_disconnect(
        self, response: httpx.Response, receive: Receive, send: Send
    ) -> bool:
        """Copy an unbounded body (server-sent events, chunked) until the client leaves.

        Most servers drop writes to a closed connection silently, so without watching
        for the disconnect an event stream would hold its upstream open for ever.
        """
        complete = False
        async with anyio.create_task_group() as tasks:

            async def stop_on_disconnect() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                tasks.cancel_scope.cancel()

            tasks.start_soon(stop_on_disconnect)
            complete = await self._pump(response, send)
            tasks.cancel_scope.cancel()
        return complete


def is_replayable(method: str, headers: list[tuple[bytes, bytes]]) -> bool:
    """True when sending the request twice has the effect of sending it once (ADR 0009).

    The idempotent methods of RFC 9110, and a POST or PATCH with an `Idempotency-Key`:
    the service stores the first answer under that key and replays it (chassis.idempotency).
    """
    if method in IDEMPOTENT_METHODS:
        return True
    return method in ("POST", "PATCH") and any(name == IDEMPOTENCY_KEY for name, _ in headers)


def _is_private(target: bytes) -> bool:
    """True when the target names a service's operational endpoint, however it is spelled."""
    path = _ANY_HOST.copy_with(raw_path=target).path
    return posixpath.normpath("/" + path.lstrip("/")) in _PRIVATE_PATHS


def _is_bare_error(response: httpx.Response) -> bool:
    """An error status without a problem document."""
    content_type = response.headers.get("content-type", "")
    return response.status_code >= 400 and not content_type.startswith(PROBLEM_CONTENT_TYPE)


def _content_length(value: bytes) -> int:
    try:
        return int(value)
    except ValueError:
        raise BadRequest("Content-Length is not a number.") from None


def proxy_routes(
    upstreams: Upstreams,
    *,
    verifier: TokenVerifier | None,
    limiter: RateLimiter | None,
    max_body_bytes: int,
) -> list[Route]:
    """One route per upstream (so metrics name the service), then a 404 for unknown names."""
    routes = []
    for name in upstreams.names:
        endpoint = ProxyEndpoint(
            upstreams, name, verifier=verifier, limiter=limiter, max_body_bytes=max_body_bytes
        )
        # `/api/orders` is the upstream's root collection (`POST /api/orders` checks out),
        # so it is proxied as `/`, not redirected to `/api/orders/`.
        for path, route_name in (
            (f"/api/{name}", f"{name}-root"),
            (f"/api/{name}/{{path:path}}", name),
        ):
            routes.append(
                Route(path, endpoint, methods=PROXIED_METHODS, name=f"proxy-{route_name}")
            )

    async def unknown_service(request: Request) -> Response:
        raise NotFound(f"There is no API service named {request.path_params['service']!r}.")

    routes.append(Route("/api/{service}/{path:path}", unknown_service, methods=PROXIED_METHODS))
    return routes
