"""ServiceClient against a real local HTTP server: retries, timeouts, breaker, request ids."""

from __future__ import annotations

import contextvars
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import stamina

from chassis.breaker import BreakerState, CircuitBreaker
from chassis.errors import BadGateway, GatewayTimeout, ServiceUnavailable
from chassis.http import ClientPolicy, ServiceClient
from chassis.requestid import REQUEST_ID_HEADER, set_request_id
from chassis.testing import frozen_address

SLOW_SECONDS = 0.3


class Upstream:
    """A real HTTP/1.1 server on 127.0.0.1 whose answers each test scripts.

    `/status/<name>` answers the statuses in `script[name]` in turn (the last one repeats);
    `/slow` answers after SLOW_SECONDS; `/echo` returns each request header's values as JSON;
    `/hangup` closes the connection without answering; `/set-cookie` sets a cookie;
    `/bad-gzip` sends a body that cannot be decoded.
    """

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.script: dict[str, list[int]] = {}
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes

            def handle_any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                upstream.hits[f"{self.command} {self.path}"] += 1
                upstream.hits[self.path] += 1
                # A client that timed out has gone; there is nobody to answer.
                with suppress(BrokenPipeError, ConnectionResetError):
                    self.answer()

            def answer(self) -> None:
                if self.path.startswith("/status/"):
                    statuses = upstream.script[self.path.removeprefix("/status/")]
                    status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
                    self.reply(status, {"status": status})
                elif self.path == "/slow":
                    time.sleep(SLOW_SECONDS)
                    self.reply(200, {"slow": True})
                elif self.path == "/echo":
                    names = {name.lower() for name in self.headers}
                    self.reply(200, {n: self.headers.get_all(n) for n in names})
                elif self.path == "/hangup":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                elif self.path == "/set-cookie":
                    self.send_response(200)
                    self.send_header("Set-Cookie", "session=caller-a; Path=/")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif self.path == "/bad-gzip":
                    self.reply(200, None, raw=b"this is not gzip", encoding="gzip")
                else:
                    self.reply(404, {"path": self.path})

            def reply(
                self, status: int, body: Any, raw: bytes | None = None, encoding: str = ""
            ) -> None:
                data = raw if raw is not None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if encoding:
                    self.send_header("Content-Encoding", encoding)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = handle_any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def fresh_upstream_state(upstream: Upstream) -> None:
    upstream.hits.clear()
    upstream.script.clear()


@pytest.fixture(autouse=True)
def no_retry_waits() -> Iterator[None]:
    """stamina's test mode: no backoff; `cap` keeps each call's own attempt count."""
    with stamina.set_testing(True, attempts=10, cap=True):
        yield


def make_policy(**overrides: Any) -> ClientPolicy:
    options: dict[str, Any] = {"name": "upstream", "read_timeout": 2.0, "attempts": 3}
    options.update(overrides)
    return ClientPolicy(**options)


@pytest.fixture
def policy() -> ClientPolicy:
    return make_policy()


@pytest.fixture
def client(upstream: Upstream, policy: ClientPolicy) -> Iterator[ServiceClient]:
    client = ServiceClient(upstream.url, policy)
    yield client
    client.close()


@contextmanager
def service_client(base_url: str, policy: ClientPolicy) -> Iterator[ServiceClient]:
    client = ServiceClient(base_url, policy)
    try:
        yield client
    finally:
        client.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- bulkhead ---------------------------------------------------------------------------


def test_calls_past_the_in_flight_limit_fail_fast_while_the_upstream_hangs() -> None:
    policy = make_policy(read_timeout=1.5, attempts=1, max_in_flight=2)
    with (
        frozen_address() as (host, port),
        service_client(f"http://{host}:{port}", policy) as client,
    ):
        outcomes: list[str] = []

        def wait_for_it() -> None:
            try:
                client.request("GET", "/a")
            except GatewayTimeout:
                outcomes.append("timed out")

        waiting = [threading.Thread(target=wait_for_it) for _ in range(2)]
        for thread in waiting:
            thread.start()
        time.sleep(0.2)  # both calls now hold their slot, waiting for an answer
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable) as refused:
            client.request("GET", "/b")
        assert time.monotonic() - started < 0.5
        assert refused.value.headers["Retry-After"] == "1"
        assert "busy" in (refused.value.detail or "")
        for thread in waiting:
            thread.join(5)
    assert outcomes == ["timed out", "timed out"]
    # The slots are given back whatever the calls' outcome.
    assert policy.bulkhead is not None and policy.bulkhead.in_flight == 0


def test_a_full_bulkhead_does_not_count_against_the_breaker(upstream: Upstream) -> None:
    policy = make_policy(max_in_flight=1, breaker_fail_max=1)
    assert policy.bulkhead is not None
    with (
        service_client(upstream.url, policy) as client,
        policy.bulkhead.slot(),
        pytest.raises(ServiceUnavailable),
    ):
        client.request("GET", "/echo")
    assert policy.breaker.state is BreakerState.CLOSED
    with service_client(upstream.url, policy) as client:
        assert client.request("GET", "/echo").status_code == 200


# -- retries --------------------------------------------------------------------------


def test_get_succeeds_on_the_first_try(client: ServiceClient, upstream: Upstream) -> None:
    upstream.script["a"] = [200]

    response = client.request("GET", "/status/a")

    assert response.status_code == 200
    assert response.json() == {"status": 200}
    assert upstream.hits["/status/a"] == 1


def test_get_is_retried_after_503s_then_succeeds(client: ServiceClient, upstream: Upstream) -> None:
    upstream.script["a"] = [503, 503, 200]

    response = client.request("GET", "/status/a")

    assert response.status_code == 200
    assert upstream.hits["GET /status/a"] == 3


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_other_idempotent_methods_are_retried(
    client: ServiceClient, upstream: Upstream, method: str
) -> None:
    upstream.script["a"] = [502, 200]

    assert client.request(method, "/status/a").status_code == 200
    assert upstream.hits["/status/a"] == 2


def test_get_gives_up_after_its_attempts_with_service_unavailable(
    client: ServiceClient, upstream: Upstream
) -> None:
    upstream.script["a"] = [503]

    with pytest.raises(ServiceUnavailable, match=r"upstream is unavailable \(503\)"):
        client.request("GET", "/status/a")
    assert upstream.hits["/status/a"] == 3


def test_post_is_not_retried_and_its_503_is_returned(
    client: ServiceClient, upstream: Upstream
) -> None:
    upstream.script["a"] = [503, 200]

    response = client.request("POST", "/status/a", json={"x": 1})

    assert response.status_code == 503
    assert upstream.hits["POST /status/a"] == 1


def test_post_is_retried_when_the_caller_says_it_is_safe(
    client: ServiceClient, upstream: Upstream
) -> None:
    upstream.script["a"] = [503, 200]

    response = client.request("POST", "/status/a", json={"x": 1}, retry=True)

    assert response.status_code == 200
    assert upstream.hits["POST /status/a"] == 2


def test_get_is_not_retried_when_the_caller_says_so(
    client: ServiceClient, upstream: Upstream
) -> None:
    upstream.script["a"] = [503, 200]

    assert client.request("GET", "/status/a", retry=False).status_code == 503
    assert upstream.hits["/status/a"] == 1


@pytest.mark.parametrize("status", [400, 404, 409, 500])
def test_non_retryable_statuses_are_returned_after_one_try(
    client: ServiceClient, upstream: Upstream, status: int
) -> None:
    upstream.script["a"] = [status, 200]

    assert client.request("GET", "/status/a").status_code == status
    assert upstream.hits["/status/a"] == 1


def test_retries_outside_test_mode_wait_briefly(upstream: Upstream, policy: ClientPolicy) -> None:
    upstream.script["a"] = [503, 200]
    with stamina.set_testing(False), service_client(upstream.url, policy) as client:
        started = time.perf_counter()
        response = client.request("GET", "/status/a")
        elapsed = time.perf_counter() - started

    assert response.status_code == 200
    assert upstream.hits["/status/a"] == 2
    assert 0.05 <= elapsed < 1.0  # wait_initial=0.05 plus at most 0.1 of jitter


# -- failures become problems ---------------------------------------------------------


def test_timeout_becomes_gateway_timeout(upstream: Upstream) -> None:
    with service_client(upstream.url, make_policy(read_timeout=0.1, attempts=2)) as client:
        started = time.perf_counter()
        with pytest.raises(GatewayTimeout, match="did not answer in time"):
            client.request("GET", "/slow")
        elapsed = time.perf_counter() - started

    assert upstream.hits["/slow"] == 2  # a GET timeout is worth one more try
    assert elapsed < SLOW_SECONDS * 2


def test_post_timeout_is_not_retried(upstream: Upstream) -> None:
    with (
        service_client(upstream.url, make_policy(read_timeout=0.1)) as client,
        pytest.raises(GatewayTimeout),
    ):
        client.request("POST", "/slow", json={})

    assert upstream.hits["/slow"] == 1


def test_connection_refused_becomes_service_unavailable() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with (
        service_client(url, make_policy()) as client,
        pytest.raises(ServiceUnavailable, match="upstream is unreachable"),
    ):
        client.request("GET", "/anything")


def test_a_dropped_connection_becomes_bad_gateway(
    client: ServiceClient, upstream: Upstream
) -> None:
    with pytest.raises(BadGateway, match="RemoteProtocolError"):
        client.request("GET", "/hangup")

    assert upstream.hits["/hangup"] == 3


# -- circuit breaker ------------------------------------------------------------------


def test_breaker_opens_after_repeated_failures_then_refuses_without_calling(
    upstream: Upstream,
) -> None:
    upstream.script["a"] = [503]
    with service_client(upstream.url, make_policy(breaker_fail_max=2)) as client:
        for _ in range(2):
            with pytest.raises(ServiceUnavailable):
                client.request("GET", "/status/a")
        hits_before = upstream.hits["/status/a"]

        with pytest.raises(ServiceUnavailable, match="circuit open"):
            client.request("GET", "/status/a")

        assert client.policy.breaker.state is BreakerState.OPEN
    assert hits_before == 6  # each logical call (3 attempts) counted once
    assert upstream.hits["/status/a"] == hits_before


def test_breaker_closes_after_a_successful_trial(upstream: Upstream) -> None:
    clock = FakeClock()
    policy = make_policy()
    policy.breaker = CircuitBreaker(fail_max=1, reset_seconds=5.0, clock=clock)
    upstream.script["a"] = [503, 503, 503, 200]
    with service_client(upstream.url, policy) as client:
        with pytest.raises(ServiceUnavailable):
            client.request("GET", "/status/a")
        assert policy.breaker.state is BreakerState.OPEN

        clock.now += 5.0
        response = client.request("GET", "/status/a")

    assert response.status_code == 200
    assert policy.breaker.state is BreakerState.CLOSED


def test_an_upstream_back_from_an_outage_is_called_again_within_a_second(
    upstream: Upstream,
) -> None:
    # A neighbour's database restart makes it answer 503 for a second or two; the chaos
    # suite wants every retry served within 5 s of the fault's end, the circuit included.
    upstream.script["outage"] = [503]
    policy = make_policy(attempts=1)
    with service_client(upstream.url, policy) as client:
        for _ in range(policy.breaker.fail_max):
            assert client.request("GET", "/status/outage").status_code == 503
        assert policy.breaker.state is BreakerState.OPEN
        upstream.script["outage"] = [200]
        time.sleep(1.05)
        response = client.request("GET", "/status/outage")

    assert response.status_code == 200
    assert policy.breaker.state is BreakerState.CLOSED


def test_breaker_counts_connection_failures(upstream: Upstream) -> None:
    with service_client(
        f"http://127.0.0.1:{closed_port()}", make_policy(breaker_fail_max=2, attempts=1)
    ) as client:
        for _ in range(2):
            with pytest.raises(ServiceUnavailable, match="unreachable"):
                client.request("GET", "/")

        with pytest.raises(ServiceUnavailable, match="circuit open"):
            client.request("GET", "/")


def test_client_errors_do_not_open_the_breaker(upstream: Upstream) -> None:
    upstream.script["a"] = [404]
    with service_client(upstream.url, make_policy(breaker_fail_max=1)) as client:
        for _ in range(3):
            assert client.request("GET", "/status/a").status_code == 404

        assert client.policy.breaker.state is BreakerState.CLOSED


def test_post_answered_503_counts_as_a_breaker_failure(upstream: Upstream) -> None:
    upstream.script["a"] = [503]
    with service_client(upstream.url, make_policy(breaker_fail_max=2)) as client:
        for _ in range(2):
            client.request("POST", "/status/a", json={})

        assert client.policy.breaker.state is BreakerState.OPEN


def test_an_undecodable_body_becomes_bad_gateway(client: ServiceClient) -> None:
    with pytest.raises(BadGateway):
        client.request("GET", "/bad-gzip")


def test_a_half_open_trial_with_an_unusable_answer_reopens_then_a_later_trial_closes(
    upstream: Upstream,
) -> None:
    clock = FakeClock()
    policy = make_policy(attempts=1)
    policy.breaker = CircuitBreaker(fail_max=1, reset_seconds=5.0, clock=clock)
    upstream.script["a"] = [200]
    policy.breaker.failure()  # open
    clock.now += 5.0
    with service_client(upstream.url, policy) as client:
        with pytest.raises(BadGateway):
            client.request("GET", "/bad-gzip")  # the half-open trial
        assert policy.breaker.state is BreakerState.OPEN
        clock.now += 5.0

        assert client.request("GET", "/status/a").status_code == 200
        assert policy.breaker.state is BreakerState.CLOSED


# -- request ids ----------------------------------------------------------------------


def echoed_headers(client: ServiceClient, request_id: str | None, **kwargs: Any) -> Any:
    """The headers the upstream received, sent while handling request `request_id`."""

    def call() -> Any:
        set_request_id(request_id)
        return client.request("GET", "/echo", **kwargs).json()

    return contextvars.copy_context().run(call)


def test_request_id_is_propagated_from_the_context(client: ServiceClient) -> None:
    assert echoed_headers(client, "req-abc-123")["x-request-id"] == ["req-abc-123"]


@pytest.mark.parametrize("name", [REQUEST_ID_HEADER, "x-request-id", "X-REQUEST-ID"])
def test_an_explicit_request_id_header_wins_and_is_sent_once(
    client: ServiceClient, name: str
) -> None:
    echoed = echoed_headers(client, "from-context", headers={name: "explicit"})

    assert echoed["x-request-id"] == ["explicit"]


def test_no_request_id_header_outside_a_request(client: ServiceClient) -> None:
    echoed = echoed_headers(client, None, headers={"X-Other": "1"})

    assert "x-request-id" not in echoed
    assert echoed["x-other"] == ["1"]


def test_cookies_from_one_answer_never_ride_on_later_calls(client: ServiceClient) -> None:
    client.request("GET", "/set-cookie")

    assert "cookie" not in client.request("GET", "/echo").json()


def test_an_interrupted_half_open_trial_does_not_wedge_the_breaker(
    upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    policy = make_policy(attempts=1)
    policy.breaker = CircuitBreaker(fail_max=1, reset_seconds=5.0, clock=clock)
    policy.breaker.failure()
    clock.now += 5.0
    upstream.script["a"] = [200]
    client = ServiceClient(upstream.url, policy)
    send = client._client.request

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    try:
        monkeypatch.setattr(client._client, "request", interrupted)
        with pytest.raises(KeyboardInterrupt):
            client.request("GET", "/status/a")
        monkeypatch.setattr(client._client, "request", send)
        clock.now += 5.0
        assert client.request("GET", "/status/a").status_code == 200
    finally:
        client.close()
