"""The HTTP/1.1 client the gateway forwards with: keep-alive pools on asyncio and httptools.

httpx spends 0.7-1.2 ms of CPU on each proxied call (its pool examines every connection
on every request, and h11 parses in Python), aiohttp ~0.12 ms, this client ~0.05 ms
(ADR 0012). It does only what forwarding needs: one request per connection at a time, no
redirects, cookies, proxies, compression or HTTP/2; callers pass no Host or framing
headers (it writes them). Answers are `httpx.Response` objects and failures are httpx's
exception types, so everything past the pool reads as before: `ConnectError`,
`ConnectTimeout` and `PoolTimeout` before any byte was sent; `ReadTimeout`, `WriteTimeout`,
`ReadError`, `WriteError` and `RemoteProtocolError` after.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast
from urllib.parse import urlsplit

import httptools
import httpx

# Reading pauses while this much of a body waits for a slow client, so a stream's
# upstream is held back instead of filling the gateway's memory.
HIGH_WATER = 256 * 1024
_SERVER_DISCONNECTED = "Server disconnected without sending a response."
_INCOMPLETE_BODY = "Server disconnected without sending the complete message body."
_SLOW = "The upstream did not answer in time."


class ConnectionPool:
    """Keep-alive connections to one instance (`http://host:port[/prefix]`), reused newest first."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: httpx.Timeout | None = None,
        max_connections: int = 100,
        keepalive_expiry: float = 4.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if tls else 80)
        self.prefix = parts.path.rstrip("/").encode()
        host = f"[{self.host}]" if ":" in self.host else self.host
        default_port = parts.port is None or parts.port == (443 if tls else 80)
        self.host_header = (host if default_port else f"{host}:{self.port}").encode("idna")
        self.ssl: ssl.SSLContext | None = None
        if tls:
            self.ssl = ssl_context or httpx.create_ssl_context()
        self.origin = f"{parts.scheme}://{host}:{self.port}"
        timeout = timeout or httpx.Timeout(5.0)
        self.timeout = timeout
        self.max_connections = max_connections
        self.keepalive_expiry = keepalive_expiry
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        self._connecting = 0
        self._waiters: deque[asyncio.Future[_Connection | None]] = deque()
        self._closed = False

    async def send(
        self,
        method: str,
        target: bytes,
        headers: Sequence[tuple[bytes, bytes]] = (),
        content: bytes | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> UpstreamResponse:
        """Send a request for `target` (raw path and query); its response, body not yet read."""
        timeout = timeout or self.timeout
        head = self._head(method, target, headers, content)
        connection = await self._acquire(timeout)
        try:
            response = await connection.exchange(method, head, content, timeout)
        except BaseException:
            self._discard(connection)
            raise
        stream = _Body(self, connection, timeout.read)
        return UpstreamResponse(response[0], response[1], stream, method, self, target)

    async def aclose(self) -> None:
        """Close every connection; requests waiting for one fail."""
        self._closed = True
        for connection in list(self._open):
            connection.close()
        self._idle.clear()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(httpx.PoolTimeout("The connection pool was closed."))

    # -- requests ------------------------------------------------------------------

    def url(self, target: bytes) -> str:
        """The absolute URL of a raw path and query on this instance."""
        return self.origin + (self.prefix + target).decode("latin-1")

    def _head(
        self,
        method: str,
        target: bytes,
        headers: Sequence[tuple[bytes, bytes]],
        content: bytes | None,
    ) -> bytes:
        """The request line and headers: Host, framing and keep-alive set here."""
        target = target or b"/"
        if b" " in target or not target.startswith(b"/"):
            raise httpx.LocalProtocolError(f"Not a request target: {target!r}.")
        lines = [
            method.encode("ascii"), b" ", self.prefix, target, b" HTTP/1.1\r\nhost: ",
            self.host_header, b"\r\nconnection: keep-alive\r\n",
        ]  # fmt: skip
        if content:
            lines += (b"content-length: ", str(len(content)).encode(), b"\r\n")
        elif method in ("POST", "PUT", "PATCH"):
            lines.append(b"content-length: 0\r\n")  # what a server needs to know there is none
        for name, value in headers:
            lines += (name, b": ", value, b"\r\n")
        lines.append(b"\r\n")
        head = b"".join(lines)
        # Every line break is one this method wrote: none came in with a name or value.
        expected = len(headers) + 4 + (1 if content or method in ("POST", "PUT", "PATCH") else 0)
        if head.count(b"\n") != expected or head.count(b"\r") != expected:
            raise httpx.LocalProtocolError("Header names and values may not contain line breaks.")
        return head

    # -- the pool ------------------------------------------------------------------

    async def _acquire(self, timeout: httpx.Timeout) -> _Connection:
        """An idle connection, a new one, or the next one freed (within the pool timeout)."""
        if self._closed:
            raise httpx.PoolTimeout("The connection pool is closed.")
        loop = asyncio.get_running_loop()
        now = loop.time()
        idle = self._idle
        while idle:
            connection = idle.pop()
            if not connection.closed and now - connection.idle_since < self.keepalive_expiry:
                return connection
            connection.close()
        if len(self._open) + self._connecting < self.max_connections:
            return await self._connect(timeout)
        waiter: asyncio.Future[_Connection | None] = loop.create_future()
        self._waiters.append(waiter)
        expiry = loop.call_later(
            _seconds(timeout.pool), _expire, waiter, httpx.PoolTimeout, "No connection came free."
        )
        try:
            handed = await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                freed = waiter.result()
                if freed is not None:
                    self._release(freed)
                else:
                    self._wake()
            raise
        finally:
            expiry.cancel()
            if not waiter.done():
                waiter.cancel()
        return handed if handed is not None else await self._connect(timeout)

    async def _connect(self, timeout: httpx.Timeout) -> _Connection:
        loop = asyncio.get_running_loop()
        self._connecting += 1
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _Connection(self),
                    self.host,
                    self.port,
                    ssl=self.ssl,
                    server_hostname=self.host if self.ssl else None,
                ),
                _seconds(timeout.connect),
            )
        except TimeoutError:
            raise httpx.ConnectTimeout(f"Connecting to {self.origin} timed out.") from None
        except OSError as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
        finally:
            self._connecting -= 1
        if self._closed:
            connection.close()
            raise httpx.PoolTimeout("The connection pool is closed.")
        return connection

    def _release(self, connection: _Connection) -> None:
        """Put a connection whose exchange is complete back: to a waiter first."""
        if connection.closed or self._closed:
            self._discard(connection)
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        connection.idle_since = asyncio.get_running_loop().time()
        self._idle.append(connection)

    def _discard(self, connection: _Connection) -> None:
        """Close a connection that cannot be reused; its place goes to a waiter."""
        connection.close()
        self._forget(connection)

    def _forget(self, connection: _Connection) -> None:
        if connection in self._open:
            self._open.discard(connection)
            self._wake()

    def _wake(self) -> None:
        """Let the first waiter open a connection of its own."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


class UpstreamResponse(httpx.Response):
    """An `httpx.Response` whose `headers` and `request` are built only when asked for.

    The proxy reads `raw_headers` as they came; building `httpx.Headers` (~10 µs) and the
    request with its URL (~40 µs) is left to the rare callers that want them.
    """

    def __init__(
        self,
        status: int,
        headers: list[tuple[bytes, bytes]],
        stream: httpx.AsyncByteStream,
        method: str,
        pool: ConnectionPool,
        target: bytes,
    ) -> None:
        self.raw_headers = headers  # (name, value) as sent, names in their own case
        self._headers: httpx.Headers | None = None
        super().__init__(status, stream=stream)
        self._method = method
        self._pool = pool
        self._target = target

    @property
    def headers(self) -> httpx.Headers:
        """The response headers."""
        if self._headers is None:
            self._headers = httpx.Headers(self.raw_headers)
        return self._headers

    @headers.setter
    def headers(self, value: httpx.Headers) -> None:
        # httpx.Response.__init__ sets an empty set: the real ones are `raw_headers`.
        self._headers = value if value else None

    @property
    def request(self) -> httpx.Request:
        """The request this answers."""
        if self._request is None:
            self._request = httpx.Request(self._method, self._pool.url(self._target))
        return self._request

    @request.setter
    def request(self, value: httpx.Request) -> None:
        self._request = value

    def raise_for_status(self) -> httpx.Response:
        """`httpx.Response.raise_for_status`, with the request built first."""
        _ = self.request
        return super().raise_for_status()

    async def aclose(self) -> None:
        """Close the body (see `_Body.aclose`); later calls return at once."""
        # The proxy, the exchange and the last read each close it: skip httpx's checks.
        if not self.is_closed:
            await super().aclose()

    async def read_chunk(self) -> tuple[bytes, bool]:
        """The next piece of the raw body and whether more follows: (b"", False) at its end.

        Knowing that a piece is the last lets a proxy end its own answer with it: one
        message fewer than `aiter_raw` and an empty closing one, and no async generators.
        The connection goes back to the pool with the last piece.
        """
        self.is_stream_consumed = True
        stream = self.stream
        assert isinstance(stream, _Body)  # noqa: S101 - set by ConnectionPool.send
        chunk, more = await stream.read()
        if not more:
            await self.aclose()
        return chunk, more


class _Body(httpx.AsyncByteStream):
    """A response body as it arrives; closing it returns the connection or drops it."""

    def __init__(self, pool: ConnectionPool, connection: _Connection, timeout: float | None):
        self._pool = pool
        self._connection: _Connection | None = connection
        self._timeout = timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        more = True
        while more:
            chunk, more = await self.read()
            if chunk:
                yield chunk

    async def read(self) -> tuple[bytes, bool]:
        """The body received since the last call (waiting for some), and whether more follows."""
        connection = self._connection
        if connection is None:
            return b"", False
        while True:
            chunk = connection.take()
            if chunk:
                return chunk, not connection.complete
            if connection.complete:
                return b"", False
            await connection.readable(self._timeout)

    async def aclose(self) -> None:
        """Hand the connection back when its answer was read in full, else close it."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if connection.complete and connection.reusable:
            self._pool._release(connection)
        else:
            self._pool._discard(connection)


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection and the response being read from it."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self.complete = True  # no exchange under way
        self.reusable = True
        self._parser: httptools.HttpResponseParser | None = None
        self._head_only = False
        self._status = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._headers_done = False
        self._body_until_close = False
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._reading_paused = False
        self._writing_paused = False
        self._error: Exception | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._drained: asyncio.Future[None] | None = None

    # -- used by the pool ------------------------------------------------------------

    async def exchange(
        self, method: str, head: bytes, content: bytes | None, timeout: httpx.Timeout
    ) -> tuple[int, list[tuple[bytes, bytes]]]:
        """Write the request, then wait for the status and headers."""
        transport = self.transport
        if transport is None or self.closed:
            raise httpx.RemoteProtocolError(_SERVER_DISCONNECTED)
        self._parser = httptools.HttpResponseParser(self)
        self._head_only = method == "HEAD"
        self._status, self._headers, self._headers_done = 0, [], False
        self._body_until_close = False
        self._chunks, self._buffered = [], 0
        self._error = None
        self.complete = False
        self.reusable = True
        if content and len(content) < 65536:
            transport.write(head + content)  # one segment for the common small body
        else:
            transport.write(head)
            if content:
                transport.write(content)
        if self._writing_paused:  # the socket buffer is full: wait for it to drain
            await self._wait_for(
                "_drained", timeout.write, httpx.WriteTimeout, "The upstream stopped reading."
            )
        while not self._headers_done:
            if self._error is not None:
                raise self._error
            await self._wait_for("_waiter", timeout.read, httpx.ReadTimeout, _SLOW)
        return self._status, self._headers

    def take(self) -> bytes:
        """Every body byte received so far (raises what broke the body off)."""
        chunks = self._chunks
        if not chunks:
            if self._error is not None and not self.complete:
                raise self._error
            return b""
        self._chunks, self._buffered = [], 0
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def readable(self, timeout: float | None) -> None:
        """Wait for more of the body (or its end)."""
        await self._wait_for("_waiter", timeout, httpx.ReadTimeout, _SLOW)

    def close(self) -> None:
        """Drop the connection at once (unread data and all)."""
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.abort()

    async def _wait_for(
        self, slot: str, timeout: float | None, error: type[Exception], message: str
    ) -> None:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        setattr(self, slot, waiter)
        expiry = loop.call_later(_seconds(timeout), _expire, waiter, error, message)
        try:
            await waiter
        finally:
            expiry.cancel()
            if getattr(self, slot) is waiter:
                setattr(self, slot, None)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _fail(self, error: Exception) -> None:
        if self._error is None:
            self._error = error
        self.reusable = False
        self._wake()

    # -- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Count the connection as the pool's."""
        # uvloop's transports do not subclass asyncio's, but they are stream transports.
        self.transport = cast(asyncio.Transport, transport)
        self.pool._open.add(self)

    def data_received(self, data: bytes) -> None:
        """Feed the parser; bytes while no exchange is under way mean the connection is bad."""
        parser = self._parser
        if parser is None or self.complete:
            self.reusable = False
            self.close()
            return
        try:
            parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            self._fail(httpx.RemoteProtocolError(f"The upstream's answer is not HTTP: {exc}"))
            self.close()

    def eof_received(self) -> bool | None:
        """The server closed its side: the connection ends (see connection_lost)."""
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        """End a body delimited by the close, or fail the exchange under way."""
        self.closed = True
        self.reusable = False
        self.pool._forget(self)
        if not self.complete:
            if self._headers_done and self._body_until_close and exc is None:
                self.complete = True
                self._wake()
            elif exc is not None and not isinstance(exc, httpx.HTTPError):
                error: Exception = httpx.ReadError(str(exc) or type(exc).__name__)
                self._fail(error)
            else:
                detail = _INCOMPLETE_BODY if self._headers_done else _SERVER_DISCONNECTED
                self._fail(httpx.RemoteProtocolError(detail))
        drained = self._drained
        if drained is not None and not drained.done():
            drained.set_exception(httpx.WriteError("The connection closed while writing."))

    def pause_writing(self) -> None:
        """The socket buffer is full: the request waits for it to drain (`exchange`)."""
        self._writing_paused = True

    def resume_writing(self) -> None:
        """The socket buffer drained."""
        self._writing_paused = False
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    # -- httptools callbacks ---------------------------------------------------------

    def on_message_begin(self) -> None:
        """A second answer to one request is not HTTP/1.1 (pipelining is never used)."""
        if self._headers_done:
            raise httpx.RemoteProtocolError("The upstream sent more than one answer.")

    def on_header(self, name: bytes, value: bytes) -> None:
        """One response header, as sent."""
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        """The status and headers are in; informational (1xx) answers are skipped."""
        parser = self._parser
        assert parser is not None  # noqa: S101 - only called by it
        status = parser.get_status_code()
        if status == 101:  # never asked for: the connection no longer speaks HTTP
            raise httpx.RemoteProtocolError("The upstream switched protocols.")
        if 100 <= status < 200:
            self._headers = []
            return
        self._status = status
        self._headers_done = True
        self.reusable = parser.should_keep_alive()
        if self._head_only or status in (204, 304):
            self.complete = True  # no body follows, whatever the headers say
        else:
            self._body_until_close = not any(
                name.lower() in (b"content-length", b"transfer-encoding")
                for name, _ in self._headers
            )
            if self._body_until_close:
                self.reusable = False
        self._wake()

    def on_body(self, body: bytes) -> None:
        """A piece of the body: buffered until read, reading paused past the high water."""
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > HIGH_WATER and not self._reading_paused and self.transport:
            self._reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        """The response is complete (informational ones aside)."""
        if self._headers_done:
            self.complete = True
            self._wake()


def _seconds(timeout: float | None) -> float:
    # httpx spells "no timeout" None; a day is as good as for ever here.
    return 86400.0 if timeout is None else timeout


def _expire(waiter: asyncio.Future[Any], error: type[Exception], message: str) -> None:
    if not waiter.done():
        waiter.set_exception(error(message))
