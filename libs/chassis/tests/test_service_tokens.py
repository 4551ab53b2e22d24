"""ServiceToken caching and the client_credentials fetch against a real local server."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

from chassis.errors import ServiceUnavailable
from chassis.http import ClientPolicy, ServiceClient
from chassis.service_tokens import IssuedToken, ServiceToken, client_credentials


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def counting_fetch(expires_in: float = 900) -> tuple[list[str], Any]:
    issued: list[str] = []

    def fetch() -> IssuedToken:
        issued.append(f"token-{len(issued) + 1}")
        return IssuedToken(issued[-1], expires_in)

    return issued, fetch


def test_token_is_reused_until_shortly_before_it_expires() -> None:
    clock = Clock()
    issued, fetch = counting_fetch()
    token = ServiceToken(fetch, renew_before=60, clock=clock)

    assert token.get() == token.get() == "token-1"
    clock.now += 839
    assert token.get() == "token-1"
    clock.now += 2  # within a minute of expiry
    assert token.get() == "token-2"
    assert token.authorization() == {"Authorization": "Bearer token-2"}
    assert len(issued) == 2


def test_short_lived_tokens_are_renewed_at_half_life() -> None:
    clock = Clock()
    _, fetch = counting_fetch(expires_in=10)
    token = ServiceToken(fetch, renew_before=60, clock=clock)

    assert token.get() == "token-1"
    clock.now += 4.9
    assert token.get() == "token-1"
    clock.now += 0.2
    assert token.get() == "token-2"


def test_invalidate_forces_a_new_token() -> None:
    _, fetch = counting_fetch()
    token = ServiceToken(fetch)
    token.get()
    token.invalidate()
    assert token.get() == "token-2"


class TokenEndpoint:
    """A token endpoint that accepts one client and records what it was sent."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                endpoint.requests.append(
                    {"authorization": self.headers.get("Authorization"), "form": parse_qs(body)}
                )
                good = "Basic " + base64.b64encode(b"orders:s%3Acret").decode()
                status = 200 if self.headers.get("Authorization") == good else 401
                payload = json.dumps({"access_token": "abc", "expires_in": 900}).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def endpoint() -> Iterator[TokenEndpoint]:
    endpoint = TokenEndpoint()
    yield endpoint
    endpoint.server.shutdown()
    endpoint.server.server_close()


@pytest.fixture
def client(endpoint: TokenEndpoint) -> Iterator[ServiceClient]:
    client = ServiceClient(
        f"http://127.0.0.1:{endpoint.server.server_port}", ClientPolicy(name="auth")
    )
    yield client
    client.close()


def test_client_credentials_posts_the_grant_with_form_encoded_basic(
    endpoint: TokenEndpoint, client: ServiceClient
) -> None:
    fetch = client_credentials(client, client_id="orders", client_secret="s:cret", scope="a b")

    assert fetch() == IssuedToken("abc", 900.0)
    (sent,) = endpoint.requests
    assert sent["form"] == {"grant_type": ["client_credentials"], "scope": ["a b"]}


def test_client_credentials_refused_is_service_unavailable(client: ServiceClient) -> None:
    fetch = client_credentials(client, client_id="orders", client_secret="wrong")
    with pytest.raises(ServiceUnavailable, match="401"):
        fetch()
