"""The proxy: `/api/<name>/<path>` forwarded to that upstream, its answer streamed back."""

from __future__ import annotations

import asyncio
import posixpath
from urllib.parse import quote

import anyio
import httpx
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from chassis.asgi import problem_response
from chassis.auth import Principal, TokenVerifier
from chassis.cache import etag_matches
from chassis.errors import (
    PROBLEM_CONTENT_TYPE,
    BadRequest,
    NotFound,
    PayloadTooLarge,
    ProblemError,
    Unauthorized,
)
from chassis.http import IDEMPOTENT_METHODS, translate
from chassis.logging import get_logger
from chassis.metrics import UPSTREAM_FAILURES
from gateway.client import UpstreamResponse
from gateway.ratelimit import RATELIMIT_HEADERS, RateLimiter
from gateway.responsecache import (
    Answer,
    ResponseCache,
    canonical_target,
    storable,
    stored_from,
)
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
        b"x-forwarded-prefix",
    }
)
# Services may one day trust identity headers from the gateway, so no client may send them.
_IDENTITY_PREFIXES = (b"x-user", b"x-auth")
# The gateway's own server writes these; two Date headers would be invalid.
_SET_BY_SERVER = frozenset({b"date", b"server"})
_NOT_FORWARDED = HOP_BY_HOP | _SET_BY_GATEWAY
_NOT_RELAYED = HOP_BY_HOP | _SET_BY_SERVER
# With the gateway's own limits, an upstream's reports about itself are dropped too.
_NOT_RELAYED_LIMITED = _NOT_RELAYED | frozenset(RATELIMIT_HEADERS)
# A service's operational endpoints are for the cluster, not the internet.
_PRIVATE_PATHS = frozenset({"/livez", "/readyz", "/metrics"})
# A target can only normalise to one of them if it spells a name or percent-encodes.
_PRIVATE_NAMES = (b"livez", b"readyz", b"metrics")
# Only to decode a raw target the way httpx does; never contacted.
_ANY_HOST = httpx.URL("http://upstream")
# ASGI servers give header names in lower case.
IDEMPOTENCY_KEY = b"idempotency-key"
IF_NONE_MATCH = b"if-none-match"
# Under gunicorn's 4094-byte request line, so a service never meets a target it would
# refuse with its own HTML 414 page.
MAX_TARGET_BYTES = 4000


class UriTooLong(ProblemError):
    """The request target is longer than the services accept."""

    status, slug, title = 414, "uri-too-long", "URI Too Long"


def _connection_tokens(headers: list[tuple[bytes, bytes]]) -> set[bytes]:
    """Every header the Connection headers name (lower-case names given)."""
    return {
        token.strip().lower()
        for name, value in headers
        if name == b"connection"
        for token in value.split(b",")
    }


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
        cache: ResponseCache | None = None,
    ) -> None:
        self.upstreams = upstreams
        self.name = name
        self.prefix = f"/api/{name}"
        self._raw_prefix = f"/api/{name}/".encode()
        # The service names the public path in its problems' `instance` with it.
        self._forwarded_prefix = (b"x-forwarded-prefix", self.prefix.encode())
        self.verifier = verifier
        self.limiter = limiter
        self.max_body_bytes = max_body_bytes
        self.cache = cache if cache is not None and cache.serves(name) else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        target = self._upstream_path(scope)
        if len(target) > MAX_TARGET_BYTES:
            raise UriTooLong(f"The path and query are over {MAX_TARGET_BYTES} bytes.")
        headers, authorizations, declared_length = self._request_headers(scope)
        if declared_length > self.max_body_bytes:
            raise PayloadTooLarge(f"The request body is over {self.max_body_bytes} bytes.")
        principal = None
        if authorizations:
            principal = await self._verified(scope, authorizations)
        quota = None
        if self.limiter is not None:
            quota = await self.limiter.check(
                self.name, scope["method"], scope["path"], scope.get("client"), principal
            )
        # Only requests without credentials share answers: none of them depends on who asks.
        exchange = _Exchange(scope, receive, send, target, headers, not authorizations)
        if quota is None:
            await self._forward(exchange)
            return
        # Every answer this endpoint starts carries them, in place of the upstream's own.
        exchange.quota = quota.raw_headers()
        try:
            await self._forward(exchange)
        except ProblemError as exc:
            # Rendered by the app's exception handler, outside this endpoint's `send`.
            exc.headers.update(quota.headers())
            raise

    async def _verified(self, scope: Scope, authorizations: list[bytes]) -> Principal | None:
        """The bearer token's principal; a rejected token counts against the client's IP."""
        limiter = self.limiter
        if limiter is None or self.verifier is None:
            return await verify_bearer(self.verifier, authorizations)
        # No signature check while the IP's bucket is empty: bad tokens filled it.
        await limiter.refuse_exhausted_ip(self.name, scope.get("client"))
        try:
            return await verify_bearer(self.verifier, authorizations)
        except Unauthorized:
            # Counted like an anonymous call (429 once over the limit, else the 401).
            await limiter.check(
                self.name, scope["method"], scope["path"], scope.get("client"), None
            )
            raise

    async def _forward(self, exchange: _Exchange) -> None:
        """Read the body, send the request upstream, relay the answer."""
        try:
            body = await self._read_body(exchange.receive)
        except ClientDisconnect:
            return  # nobody is left to answer
        if _is_private(exchange.target):
            raise NotFound()
        method = exchange.scope["method"]
        if self.cache is not None and exchange.anonymous and method in ("GET", "HEAD") and not body:
            await self._forward_cached(self.cache, exchange)
            return
        await self._exchange(exchange, body)

    async def _exchange(self, exchange: _Exchange, body: bytes = b"") -> None:
        """Send the request to an instance and relay its answer."""
        method = exchange.scope["method"]
        headers = exchange.headers
        async with self.upstreams[self.name].exchange(
            method,
            exchange.target,
            replayable=is_replayable(method, headers),
            headers=headers,
            content=body or None,
        ) as (instance, response):
            await self._relay(exchange, response, instance)

    async def _forward_cached(self, cache: ResponseCache, exchange: _Exchange) -> None:
        """Answer from the response cache, or fetch once, store and answer."""
        scope, target = exchange.scope, exchange.target
        key = canonical_target(target)
        answer, full = await cache.lookup(self.name, key)
        if answer is not None:
            await _send_stored(exchange, answer, b"hit")
            return
        if full is None or scope["method"] != "GET":
            await self._exchange(exchange)
            return
        pending = cache.follow(full)
        if pending is not None:  # this process is fetching it already: share that answer
            shared = await asyncio.shield(pending)
            if shared is not None:
                await _send_stored(exchange, shared, b"hit")
            else:
                await self._exchange(exchange)
            return
        answer = None
        try:
            # The gateway answers conditions itself, from the full answer it stores.
            unconditional = [h for h in exchange.headers if h[0] != IF_NONE_MATCH]
            async with self.upstreams[self.name].exchange(
                "GET", target, replayable=True, headers=unconditional
            ) as (instance, response):
                raw = response.raw_headers
                size = _content_length_of(raw)
                if not storable(response.status_code, raw, size):
                    await self._relay(exchange, response, instance)
                    return
                try:
                    body = await response.aread()
                except httpx.HTTPError as exc:
                    raise translate(self.name, exc) from exc
            answer = Answer.of(stored_from(raw, body))
            await cache.store(self.name, key, full, answer)
            await _send_stored(exchange, answer, b"miss")
        finally:
            cache.settle(full, answer)

    # -- request --------------------------------------------------------------------

    def _request_headers(self, scope: Scope) -> tuple[list[tuple[bytes, bytes]], list[bytes], int]:
        """Forwardable headers, the Authorization values, and the declared body length."""
        raw: list[tuple[bytes, bytes]] = scope["headers"]
        drop: frozenset[bytes] | set[bytes] = _NOT_FORWARDED
        if any(name == b"connection" for name, _ in raw):
            drop = _NOT_FORWARDED | _connection_tokens(raw)
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
            if name in drop or name.startswith(_IDENTITY_PREFIXES):
                continue
            forwarded.append((name, value))
        client = scope.get("client")
        if client:
            # The gateway is the edge: uvicorn already resolved trusted proxies into
            # scope["client"], so whatever X-Forwarded-For the client sent is replaced.
            forwarded.append((b"x-forwarded-for", client[0].encode("latin-1")))
        forwarded.append((b"x-forwarded-proto", scope["scheme"].encode("latin-1")))
        forwarded.append(self._forwarded_prefix)
        if host:
            forwarded.append((b"x-forwarded-host", host))
        if not encodings:
            # Without the header a server may pick any coding (RFC 9110 §12.5.3), and the
            # client never said it could read one.
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
        if raw_path and raw_path.startswith(self._raw_prefix):
            path = raw_path.partition(b"?")[0][len(self._raw_prefix) - 1 :]
        else:  # no raw path from the server, or an escaped prefix: re-encode the decoded one
            path = quote(scope["path"][len(self.prefix) :], safe="/:@!$&'()*+,;=-._~").encode()
        path = path or b"/"
        query: bytes = scope.get("query_string", b"")
        return path + b"?" + query if query else path

    # -- response -------------------------------------------------------------------

    async def _relay(
        self, exchange: _Exchange, response: UpstreamResponse, instance: Instance
    ) -> None:
        """Send the upstream's status and headers, then its body as it arrives."""
        scope, send = exchange.scope, exchange.send
        if _is_bare_error(response):
            # Not from the service's code but from its server (gunicorn's HTML error
            # pages): every error leaving the platform is a problem document.
            await response.aclose()
            detail = f"{self.name} answered {response.status_code} without a problem document."
            problem = problem_response(response.status_code, detail, scope["path"])
            if exchange.quota:
                problem.raw_headers += exchange.quota
            await problem(scope, exchange.receive, send)
            return
        headers, bounded = self._response_headers(response, instance, exchange.quota)
        first: tuple[bytes, bool] | None = None
        if bounded and scope["method"] != "HEAD":
            # The first piece is read before answering: an instance killed between its
            # headers and its body is then a 502 the client may retry, not a cut connection.
            try:
                first = await response.read_chunk()
            except httpx.HTTPError as exc:
                await response.aclose()
                self._body_broke(exc)
                raise translate(self.name, exc) from exc
        try:
            await send(
                {"type": "http.response.start", "status": response.status_code, "headers": headers}
            )
            if bounded or scope["method"] == "HEAD":
                await self._pump(response, send, first)
            else:
                await self._pump_until_disconnect(response, exchange.receive, send)
        finally:
            await response.aclose()
        # A body that broke off stays incomplete and the server drops the connection, so
        # the client sees a broken body instead of a short one that looks whole.

    def _response_headers(
        self, response: UpstreamResponse, instance: Instance, quota: list[tuple[bytes, bytes]]
    ) -> tuple[list[tuple[bytes, bytes]], bool]:
        """The headers to relay, and whether the body has a length (else: a stream)."""
        raw = [(name.lower(), value) for name, value in response.raw_headers]
        drop: frozenset[bytes] | set[bytes] = _NOT_RELAYED_LIMITED if quota else _NOT_RELAYED
        if any(name == b"connection" for name, _ in raw):
            drop = drop | _connection_tokens(raw)
        headers: list[tuple[bytes, bytes]] = []
        bounded = False
        for name, value in raw:
            if name in drop:
                continue
            if name == b"content-length":
                bounded = True
            elif name == b"location":
                value = self._public_location(value, instance)
            headers.append((name, value))
        if quota:
            headers += quota
        return headers, bounded

    def _public_location(self, location: bytes, instance: Instance) -> bytes:
        """A redirect or Created location rewritten from the instance's URL space to ours."""
        base = instance.endpoint.encode()
        if location.startswith(base + b"/"):
            location = location[len(base) :]
        if location.startswith(b"/") and not location.startswith(b"//"):
            return self.prefix.encode() + location
        return location

    async def _pump(
        self, response: UpstreamResponse, send: Send, first: tuple[bytes, bool] | None = None
    ) -> bool:
        """Copy the body (from `first`, if read already) to the client; False if one side broke."""
        try:
            chunk, more = first if first is not None else await response.read_chunk()
            await send({"type": "http.response.body", "body": chunk, "more_body": more})
            while more:
                chunk, more = await response.read_chunk()
                await send({"type": "http.response.body", "body": chunk, "more_body": more})
        except httpx.HTTPError as exc:
            self._body_broke(exc)
            return False
        except OSError:  # ASGI 2.4 servers raise it from send() once the client has gone
            return False
        return True

    def _body_broke(self, error: httpx.HTTPError) -> None:
        UPSTREAM_FAILURES.labels("gateway", self.name, "body-broken").inc()
        log.warning("upstream body broke off", upstream=self.name, error=type(error).__name__)

    async def _pump_until_disconnect(
        self, response: UpstreamResponse, receive: Receive, send: Send
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


async def _send_stored(exchange: _Exchange, answer: Answer, outcome: bytes) -> None:
    """A stored answer, or 304 when the client's If-None-Match names it."""
    scope, send = exchange.scope, exchange.send
    etag = answer.etag
    not_modified = False
    if etag is not None:
        for name, value in scope["headers"]:
            if name == IF_NONE_MATCH and etag_matches(value.decode("latin-1"), etag):
                not_modified = True
                break
    if not_modified:
        headers = [*answer.validators, (b"x-cache", outcome), *exchange.quota]
        await send({"type": "http.response.start", "status": 304, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return
    headers = [*answer.headers, (b"x-cache", outcome), answer.length, *exchange.quota]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    body = b"" if scope["method"] == "HEAD" else answer.body
    await send({"type": "http.response.body", "body": body})


class _Exchange:
    """One proxied request: what the client sent, and what every answer to it carries."""

    __slots__ = ("anonymous", "headers", "quota", "receive", "scope", "send", "target")

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        anonymous: bool,
    ) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        self.target = target  # raw path and query on the upstream
        self.headers = headers  # to forward
        self.anonymous = anonymous  # no credentials: a shared answer may do
        self.quota: list[tuple[bytes, bytes]] = []  # RateLimit-* headers, when limited


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
    raw = target.partition(b"?")[0]
    if b"%" not in raw and not any(name in raw for name in _PRIVATE_NAMES):
        return False  # decoding and normalising could not make one of them (~30 µs saved)
    path = _ANY_HOST.copy_with(raw_path=target).path
    return posixpath.normpath("/" + path.lstrip("/")) in _PRIVATE_PATHS


def _is_bare_error(response: httpx.Response) -> bool:
    """An error status without a problem document."""
    if response.status_code < 400:
        return False
    return not response.headers.get("content-type", "").startswith(PROBLEM_CONTENT_TYPE)


def _content_length_of(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The Content-Length an upstream declared, when there is exactly one valid value."""
    lengths = [value for name, value in headers if name.lower() == b"content-length"]
    if len(lengths) == 1 and lengths[0].isdigit():
        return int(lengths[0])
    return None


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
    cache: ResponseCache | None = None,
) -> list[Route]:
    """One route per upstream (so metrics name the service), then a 404 for unknown names."""
    routes = []
    for name in upstreams.names:
        endpoint = ProxyEndpoint(
            upstreams,
            name,
            verifier=verifier,
            limiter=limiter,
            max_body_bytes=max_body_bytes,
            cache=cache,
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


# RFC 8414 §3.1: an issuer with a path has its metadata at the well-known URL with the path
# inserted after it. Auth's issuer is `<public origin>/api/auth`, so a client that knows only
# the issuer looks at the root, where nothing but the gateway answers.
AUTH_UPSTREAM = "auth"
AUTH_METADATA = "/.well-known/oauth-authorization-server"
AUTH_METADATA_INSERTED = f"{AUTH_METADATA}/api/{AUTH_UPSTREAM}"


class PathAlias:
    """ASGI app answering one public path as a proxy answers another of its paths."""

    def __init__(self, endpoint: ProxyEndpoint, path: str) -> None:
        self.endpoint = endpoint
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        aliased = {**scope, "path": self.path, "raw_path": self.path.encode()}
        await self.endpoint(aliased, receive, send)


def metadata_routes(
    upstreams: Upstreams,
    *,
    verifier: TokenVerifier | None,
    limiter: RateLimiter | None,
    max_body_bytes: int,
) -> list[Route]:
    """Auth's RFC 8414 metadata at its path-inserted URL (the query string is kept)."""
    if AUTH_UPSTREAM not in upstreams.names:
        return []
    endpoint = ProxyEndpoint(
        upstreams,
        AUTH_UPSTREAM,
        verifier=verifier,
        limiter=limiter,
        max_body_bytes=max_body_bytes,
    )
    alias = PathAlias(endpoint, f"/api/{AUTH_UPSTREAM}{AUTH_METADATA}")
    return [
        Route(AUTH_METADATA_INSERTED, alias, methods=["GET", "HEAD"], name="proxy-auth-metadata")
    ]
