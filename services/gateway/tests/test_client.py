"""The upstream client: HTTP/1.1 framing, connection reuse, limits and failures."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from gateway.client import HIGH_WATER, ConnectionPool

pytestmark = pytest.mark.anyio


@pytest.fixture(params=[False, True], ids=["asyncio", "uvloop"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, bool]]:
    """Both event loops: uvloop's transports are not asyncio's (production runs uvloop)."""
    return "asyncio", {"use_uvloop": request.param}


class ScriptedServer:
    """A TCP server that reads each request and answers with the next scripted bytes.

    `None` in the script hangs up without an answer; after each answer the connection
    stays open for the next request unless `close` is set.
    """

    def __init__(self, script: list[bytes | None], *, close: bool = False) -> None:
        self.script = list(script)
        self.close = close
        self.requests: list[bytes] = []
        self.connections = 0
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            buffer = b""
            while self.script:
                while b"\r\n\r\n" not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buffer) < length:
                    buffer += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + buffer[:length])
                buffer = buffer[length:]
                answer = self.script.pop(0)
                if answer is None:
                    return
                conn.sendall(answer)
                if self.close:
                    return
            # Script done: keep the connection until the client closes it.
            while conn.recv(65536):
                pass

    def stop(self) -> None:
        """Stop accepting."""
        self._sock.close()


@contextmanager
def scripted(*script: bytes | None, close: bool = False) -> Iterator[ScriptedServer]:
    """A ScriptedServer for the duration of the block."""
    server = ScriptedServer(list(script), close=close)
    try:
        yield server
    finally:
        server.stop()


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Kind: fixed\r\n\r\nhello"


async def body_of(pool: ConnectionPool, method: str = "GET", target: bytes = b"/x") -> bytes:
    response = await pool.send(method, target)
    try:
        return await response.aread()
    finally:
        await response.aclose()


async def test_keeps_the_connection_for_the_next_request() -> None:
    with scripted(OK, OK, OK) as server:
        pool = ConnectionPool(server.url)
        bodies = [await body_of(pool) for _ in range(3)]
        await pool.aclose()
    assert bodies == [b"hello"] * 3
    assert server.connections == 1


async def test_writes_the_request_line_host_framing_and_headers() -> None:
    with scripted(OK, OK) as server:
        pool = ConnectionPool(server.url + "/base")
        response = await pool.send(
            "POST", b"//elsewhere/x%2Fy?q=1", [(b"x-custom", b"1")], content=b"{}"
        )
        await response.aread()
        await body_of(pool, "PUT")
        await pool.aclose()
    first, second = server.requests
    assert first.startswith(b"POST /base//elsewhere/x%2Fy?q=1 HTTP/1.1\r\n")
    port = server.url.rsplit(":", 1)[1].encode()
    assert b"\r\nhost: 127.0.0.1:" + port + b"\r\n" in first
    assert b"\r\nconnection: keep-alive\r\n" in first
    assert b"\r\ncontent-length: 2\r\n" in first
    assert b"\r\nx-custom: 1\r\n" in first
    assert first.endswith(b"\r\n\r\n{}")
    assert b"\r\ncontent-length: 0\r\n" in second  # a PUT without a body says so


async def test_answers_keep_their_headers_as_sent() -> None:
    with scripted(OK) as server:
        pool = ConnectionPool(server.url)
        response = await pool.send("GET", b"/x")
        await response.aclose()
        await pool.aclose()
    assert response.status_code == 200
    assert response.raw_headers == [(b"Content-Length", b"5"), (b"X-Kind", b"fixed")]
    assert response.headers["x-kind"] == "fixed"
    assert str(response.request.url) == server.url + "/x"


async def test_reads_a_chunked_body() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
    )
    with scripted(chunked, OK) as server:
        pool = ConnectionPool(server.url)
        assert await body_of(pool) == b"abcdefg"
        assert await body_of(pool) == b"hello"
        await pool.aclose()
    assert server.connections == 1


async def test_reads_a_body_that_ends_with_the_connection() -> None:
    until_close = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it"
    with scripted(until_close, OK, close=True) as server:
        pool = ConnectionPool(server.url)
        assert await body_of(pool) == b"all of it"
        assert await body_of(pool) == b"hello"
        await pool.aclose()
    assert server.connections == 2  # not reused: its end was the close


async def test_head_and_bodiless_statuses_read_no_body() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
    not_modified = b'HTTP/1.1 304 Not Modified\r\nETag: "a"\r\nContent-Length: 99\r\n\r\n'
    no_content = b"HTTP/1.1 204 No Content\r\n\r\n"
    with scripted(head, not_modified, no_content, OK) as server:
        pool = ConnectionPool(server.url)
        assert await body_of(pool, "HEAD") == b""
        assert await body_of(pool) == b""
        assert await body_of(pool, "DELETE") == b""
        assert await body_of(pool) == b"hello"
        await pool.aclose()
    assert server.connections == 1


async def test_informational_answers_are_skipped() -> None:
    hints = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n" + OK
    with scripted(hints) as server:
        pool = ConnectionPool(server.url)
        response = await pool.send("GET", b"/x")
        assert response.status_code == 200
        assert await response.aread() == b"hello"
        assert "link" not in response.headers
        await pool.aclose()


async def test_a_large_body_arrives_whole_through_a_slow_reader() -> None:
    size = 4 * HIGH_WATER
    body = bytes(range(256)) * (size // 256)
    big = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + body
    with scripted(big, OK) as server:
        pool = ConnectionPool(server.url)
        response = await pool.send("GET", b"/big")
        received = b""
        async for chunk in response.aiter_raw():
            received += chunk
            await asyncio.sleep(0.01)  # reading pauses while the buffer is full
        assert received == body
        assert await body_of(pool) == b"hello"
        await pool.aclose()
    assert server.connections == 1


async def test_an_answer_closed_before_its_end_drops_the_connection() -> None:
    halfway = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"
    with scripted(halfway, OK) as server:
        pool = ConnectionPool(server.url)
        response = await pool.send("GET", b"/x")
        await response.aclose()  # 90 bytes still to come: the connection cannot be reused
        assert await body_of(pool) == b"hello"
        await pool.aclose()
    assert server.connections == 2


async def test_idle_connections_expire() -> None:
    with scripted(OK, OK) as server:
        pool = ConnectionPool(server.url, keepalive_expiry=0.05)
        await body_of(pool)
        await asyncio.sleep(0.1)
        await body_of(pool)
        await pool.aclose()
    assert server.connections == 2


async def test_a_full_pool_makes_requests_wait_then_time_out() -> None:
    with scripted(OK, OK) as server:
        pool = ConnectionPool(server.url, max_connections=1, timeout=httpx.Timeout(0.2))
        held = await pool.send("GET", b"/held")
        with pytest.raises(httpx.PoolTimeout):
            await pool.send("GET", b"/waits")
        waiting = asyncio.create_task(body_of(pool))
        await asyncio.sleep(0.05)
        assert await held.aread() == b"hello"
        await held.aclose()  # hands the connection to the waiting request
        assert await waiting == b"hello"
        await pool.aclose()
    assert server.connections == 1


async def test_a_refused_connection_is_a_connect_error(closed_url: str) -> None:
    pool = ConnectionPool(closed_url)
    with pytest.raises(httpx.ConnectError):
        await pool.send("GET", b"/x")
    await pool.aclose()


async def test_a_silent_upstream_is_a_read_timeout() -> None:
    listener = socket.socket()  # accepts (the backlog does), never answers
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        pool = ConnectionPool(
            f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=httpx.Timeout(0.1)
        )
        with pytest.raises(httpx.ReadTimeout):
            await pool.send("GET", b"/x")
        await pool.aclose()
    finally:
        listener.close()


async def test_a_hang_up_before_the_answer_is_a_protocol_error() -> None:
    with scripted(None) as server:
        pool = ConnectionPool(server.url)
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            await pool.send("GET", b"/x")
        await pool.aclose()


async def test_a_hang_up_mid_body_breaks_the_body() -> None:
    halfway = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"
    with scripted(halfway, close=True) as server:
        pool = ConnectionPool(server.url)
        response = await pool.send("GET", b"/x")
        with pytest.raises(httpx.RemoteProtocolError, match="complete message body"):
            await response.aread()
        await response.aclose()
        await pool.aclose()


async def test_a_large_request_body_is_written_as_the_upstream_reads_it() -> None:
    body = b"x" * (8 * 1024 * 1024)  # well past the socket buffers: writing pauses
    with scripted(OK) as server:
        pool = ConnectionPool(server.url)
        response = await pool.send("POST", b"/upload", content=body)
        assert await response.aread() == b"hello"
        await pool.aclose()
    assert server.requests[0].endswith(b"\r\n\r\n" + body)


async def test_switching_protocols_unasked_is_a_protocol_error() -> None:
    upgrade = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"
    with scripted(upgrade) as server:
        pool = ConnectionPool(server.url)
        with pytest.raises(httpx.RemoteProtocolError):
            await pool.send("GET", b"/x")
        await pool.aclose()


async def test_an_answer_that_is_not_http_is_a_protocol_error() -> None:
    with scripted(b"THIS IS NOT HTTP\r\n\r\n") as server:
        pool = ConnectionPool(server.url)
        with pytest.raises(httpx.RemoteProtocolError):
            await pool.send("GET", b"/x")
        await pool.aclose()


async def test_line_breaks_in_headers_or_target_are_refused_before_sending() -> None:
    with scripted(OK) as server:
        pool = ConnectionPool(server.url)
        with pytest.raises(httpx.LocalProtocolError):
            await pool.send("GET", b"/x", [(b"x-evil", b"a\r\nx-injected: 1")])
        with pytest.raises(httpx.LocalProtocolError):
            await pool.send("GET", b"/x HTTP/1.1\r\nx-injected: 1\r\n\r\nGET /y")
        await pool.aclose()
    assert server.requests == []
