"""End to end over real HTTP: a service gets a token from auth and verifies it by JWKS.

What another service does with `chassis.service_tokens` and `chassis.auth.TokenVerifier`,
against auth served by a real server in a thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from apiflask import APIFlask
from werkzeug.serving import make_server

from chassis.auth import TokenVerifier
from chassis.http import ClientPolicy, ServiceClient
from chassis.service_tokens import ServiceToken, client_credentials

from .conftest import make_client


@pytest.fixture
def auth_url(app: APIFlask) -> Iterator[str]:
    """The app served over HTTP (one request at a time: it shares the test's connection)."""
    server = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_a_service_obtains_a_token_and_another_verifies_it_by_jwks(
    app: APIFlask, auth_url: str
) -> None:
    client_id, secret = make_client(app, client_id="orders", scopes=("users:read", "stock:write"))
    http = ServiceClient(auth_url, ClientPolicy(name="auth"))
    token = ServiceToken(
        client_credentials(http, client_id=client_id, client_secret=secret, scope="stock:write")
    )
    verifier = TokenVerifier(
        issuer="bazaar-auth", audience="bazaar", jwks_url=f"{auth_url}/.well-known/jwks.json"
    )
    try:
        principal = verifier.verify(token.get())
        assert token.get() == token.get()  # cached, not fetched per call
    finally:
        http.close()

    assert principal.subject == "client:orders"
    assert principal.scopes == frozenset({"stock:write"})
    assert principal.roles == frozenset()


def test_a_wrong_secret_is_a_service_unavailable_for_the_caller(
    app: APIFlask, auth_url: str
) -> None:
    from chassis.errors import ServiceUnavailable

    client_id, _ = make_client(app)
    http = ServiceClient(auth_url, ClientPolicy(name="auth"))
    token = ServiceToken(client_credentials(http, client_id=client_id, client_secret="wrong"))
    try:
        with pytest.raises(ServiceUnavailable, match="401"):
            token.get()
    finally:
        http.close()
