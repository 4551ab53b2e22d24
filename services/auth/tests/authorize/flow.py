"""Driving the code flow like a browser and a client: the pages' forms, PKCE, the token call."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

STOREFRONT_REDIRECT = "http://127.0.0.1:8000/auth/callback"
_HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')


def pkce() -> tuple[str, str]:
    """A verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def hidden_fields(response: TestResponse) -> dict[str, str]:
    """The hidden inputs of the page's form."""
    page = response.get_data(as_text=True)
    return {name: html.unescape(value) for name, value in _HIDDEN.findall(page)}


def query_of(location: str) -> dict[str, str]:
    """The query parameters of a redirect."""
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@dataclass
class Flow:
    """One authorization request of a client, with its PKCE pair, state and nonce."""

    client_id: str = "storefront"
    redirect_uri: str = STOREFRONT_REDIRECT
    scope: str = "openid email"
    verifier: str = ""
    challenge: str = ""
    state: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(16))

    def __post_init__(self) -> None:
        if not self.verifier:
            self.verifier, self.challenge = pkce()

    def params(self, **changes: str | None) -> dict[str, str]:
        """The authorization request's query, with changes (None drops a parameter)."""
        params: dict[str, str | None] = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": self.challenge,
            "code_challenge_method": "S256",
            **changes,
        }
        return {k: v for k, v in params.items() if v is not None}

    def open(self, client: FlaskClient, **changes: str | None) -> TestResponse:
        """GET /authorize."""
        return client.get("/authorize", query_string=self.params(**changes))

    def log_in(
        self, client: FlaskClient, email: str, password: str, **changes: str | None
    ) -> TestResponse:
        """Open the page and post the sign-in form."""
        page = self.open(client, **changes)
        assert page.status_code == 200, page.get_data(as_text=True)
        form = {**hidden_fields(page), "action": "login", "email": email, "password": password}
        return client.post("/authorize", data=form)

    def code(self, client: FlaskClient, email: str, password: str) -> str:
        """Sign in and return the code the redirect carries (state checked)."""
        answer = self.log_in(client, email, password)
        assert answer.status_code == 303, answer.get_data(as_text=True)
        location = answer.headers["Location"]
        assert location.startswith(self.redirect_uri + "?")
        query = query_of(location)
        assert query["state"] == self.state
        return query["code"]

    def redeem(self, client: FlaskClient, code: str, **changes: Any) -> TestResponse:
        """POST /token with grant_type=authorization_code as a public client."""
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "client_id": self.client_id,
            "code_verifier": self.verifier,
            **changes,
        }
        return client.post("/token", data={k: v for k, v in data.items() if v is not None})
