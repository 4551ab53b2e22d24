"""An off-the-shelf OpenID Connect client (Authlib) configures itself from Bazaar's discovery
document and signs a user in, against auth served over real HTTP under the gateway's prefix.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from apiflask import APIFlask
from authlib.common.security import generate_token
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oidc.core import CodeIDToken
from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc import jwt
from joserfc.jwk import KeySet
from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import BaseWSGIServer, make_server

from ..conftest import PASSWORD, AppFactory, make_account, make_client
from .flow import query_of

with warnings.catch_warnings():
    # Authlib 1.9 announces a move of this module to the `httpx2` package; it still works.
    warnings.simplefilter("ignore")
    from authlib.integrations.httpx_client import OAuth2Client

RP_CALLBACK = "https://rp.example/oidc/callback"
_HIDDEN_NAMES = ("csrf_token", "request", "consent")


class ServedAuth:
    """Auth mounted at /api/auth (as the gateway routes it) on a real local port."""

    def __init__(self) -> None:
        self.app: Any = NotFound()
        self.server: BaseWSGIServer = make_server(
            "127.0.0.1", 0, lambda environ, start: self.app(environ, start), threaded=True
        )
        self.origin = f"http://127.0.0.1:{self.server.server_port}"
        self.issuer = self.origin + "/api/auth"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def mount(self, app: APIFlask) -> None:
        """Serve `app` under the prefix."""
        self.app = DispatcherMiddleware(NotFound(), {"/api/auth": app.wsgi_app})

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self._thread.join(5)


@pytest.fixture
def served(make_fresh_app: AppFactory) -> Iterator[tuple[ServedAuth, APIFlask]]:
    """Auth on a fresh database whose issuer is the served origin's /api/auth."""
    served = ServedAuth()
    app = make_fresh_app(public_origin=served.origin, proxy_hops=0, password_grant=None)
    served.mount(app)
    yield served, app
    served.close()


def _hidden(page: httpx.Response) -> dict[str, str]:
    import html
    import re

    found = re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', page.text)
    return {name: html.unescape(value) for name, value in found if name in _HIDDEN_NAMES}


def test_both_discovery_documents_validate(served: tuple[ServedAuth, APIFlask]) -> None:
    server, _ = served
    oidc = httpx.get(server.issuer + "/.well-known/openid-configuration").json()
    oauth = httpx.get(server.issuer + "/.well-known/oauth-authorization-server").json()

    AuthorizationServerMetadata(oauth).validate()
    # Every rule of OpenID Connect Discovery §3, RS256 among the ID token algorithms too.
    OpenIDProviderMetadata(oidc).validate()
    assert oidc["id_token_signing_alg_values_supported"] == ["RS256", "EdDSA"]
    assert oidc["issuer"] == oauth["issuer"] == server.issuer
    assert oidc["code_challenge_methods_supported"] == ["S256"]
    assert oidc["response_types_supported"] == ["code"]
    assert "password" not in oidc["grant_types_supported"]  # env=test: off by default
    keys = httpx.get(oidc["jwks_uri"]).json()
    assert sorted(key["alg"] for key in keys["keys"]) == ["EdDSA", "RS256"]


def test_authlib_signs_a_user_in_with_the_code_flow(served: tuple[ServedAuth, APIFlask]) -> None:
    server, app = served
    email = make_account(app).email
    client_id, secret = make_client(app, redirect_uris=[RP_CALLBACK])
    metadata = httpx.get(server.issuer + "/.well-known/openid-configuration").json()
    OpenIDProviderMetadata(metadata).validate()
    nonce, verifier = generate_token(20), generate_token(48)
    relying_party = OAuth2Client(
        client_id,
        secret,
        scope="openid email",
        redirect_uri=RP_CALLBACK,
        code_challenge_method="S256",
    )
    url, state = relying_party.create_authorization_url(
        metadata["authorization_endpoint"], nonce=nonce, code_verifier=verifier
    )

    # The user's browser: the sign-in page, then the consent page, then back to the client.
    with httpx.Client() as browser:
        page = browser.get(url)
        assert page.status_code == 200
        consent = browser.post(
            metadata["authorization_endpoint"],
            data={**_hidden(page), "action": "login", "email": email, "password": PASSWORD},
        )
        assert consent.status_code == 200, consent.text
        back = browser.post(
            metadata["authorization_endpoint"], data={**_hidden(consent), "action": "allow"}
        )
    assert back.status_code == 303
    callback = back.headers["Location"]
    assert query_of(callback)["state"] == state
    assert query_of(callback)["iss"] == server.issuer

    token = relying_party.fetch_token(
        metadata["token_endpoint"], authorization_response=callback, code_verifier=verifier
    )

    # A client that knows only RS256, the algorithm OpenID Connect makes everyone support.
    keys = KeySet.import_key_set(httpx.get(metadata["jwks_uri"]).json())
    decoded = jwt.decode(token["id_token"], keys, algorithms=["RS256"])
    assert decoded.header["alg"] == "RS256"
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        options={"iss": {"value": metadata["issuer"]}},
        params={"nonce": nonce, "client_id": client_id},
    )
    claims.validate(now=int(time.time()))
    assert claims["email"] == email
    info = relying_party.get(metadata["userinfo_endpoint"])
    assert info.status_code == 200
    assert info.json()["sub"] == claims["sub"] and info.json()["email"] == email
    relying_party.close()


def test_userinfo_refuses_a_token_without_openid(served: tuple[ServedAuth, APIFlask]) -> None:
    server, app = served
    client_id, secret = make_client(app, scopes=["orders:read"])
    token = httpx.post(
        server.issuer + "/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
    ).json()["access_token"]

    answer = httpx.get(server.issuer + "/userinfo", headers={"Authorization": f"Bearer {token}"})

    assert answer.status_code == 403
    assert answer.headers["Content-Type"] == "application/problem+json"


def test_userinfo_needs_a_valid_token(served: tuple[ServedAuth, APIFlask]) -> None:
    server, _ = served
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        answer = httpx.get(server.issuer + "/userinfo", headers=headers)
        assert answer.status_code == 401
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
