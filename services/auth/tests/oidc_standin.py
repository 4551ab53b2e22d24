"""A stand-in for an external OpenID Connect provider (Google, GitHub, a company's IdP).

The real providers cannot be reached from the test machines, so this one runs locally, on
a real HTTP port: discovery, JWKS, an authorization endpoint that signs "its" user in at
once, and a token endpoint that checks the client's secret and PKCE verifier and answers
an RS256 ID token. Knobs make it misbehave as a hostile or broken provider would.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from chassis.testing import JsonHandler, ThreadedServer

CLIENT_ID = "bazaar-at-standin"
CLIENT_SECRET = "standin-client-secret"


@dataclass
class StandInUser:
    """Who the stand-in signs in."""

    subject: str = "standin-user-1"
    email: str = "ext.person@example.com"
    email_verified: bool = True
    name: str = "Ext Person"


@dataclass
class Knobs:
    """How the next ID tokens go wrong (all off: a well-behaved provider)."""

    audience: str | None = None  # another client's id
    nonce: str | None = None  # a nonce of another sign-in (a replay)
    forged: bool = False  # signed with a key the JWKS does not publish
    issuer: str | None = None


@dataclass
class _Grant:
    user: StandInUser
    nonce: str
    challenge: str
    redirect_uri: str


@dataclass
class OidcStandIn:
    """The stand-in provider; `url` is its issuer."""

    user: StandInUser = field(default_factory=StandInUser)
    knobs: Knobs = field(default_factory=Knobs)
    nonces: list[str] = field(default_factory=list)  # every nonce it was asked to sign

    def __post_init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._codes: dict[str, _Grant] = {}
        standin = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if parts.path == "/.well-known/openid-configuration":
                    self.reply(200, standin.discovery())
                elif parts.path == "/jwks":
                    self.reply(200, {"keys": [standin.public_jwk()]})
                elif parts.path == "/authorize":
                    self.redirect(standin.authorize(query))
                else:
                    self.reply(404, {"error": "not_found"})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                form = {k: v[0] for k, v in parse_qs(body).items()}
                status, answer = standin.token(form, self.headers.get("Authorization", ""))
                self.reply(status, answer)

            def redirect(self, location: str) -> None:
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadedServer(Handler)
        self.url = self._server.url

    def discovery(self) -> dict[str, Any]:
        """Its discovery document."""
        return {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "jwks_uri": f"{self.url}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def public_jwk(self) -> dict[str, Any]:
        """The published signing key."""
        jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key()))
        return {**jwk, "kid": "standin-1", "use": "sig", "alg": "RS256"}

    def authorize(self, query: dict[str, str]) -> str:
        """Sign the user in at once; where the browser goes back to."""
        assert query["client_id"] == CLIENT_ID
        assert query["code_challenge_method"] == "S256"
        self.nonces.append(query["nonce"])
        code = secrets.token_urlsafe(16)
        self._codes[code] = _Grant(
            self.user, query["nonce"], query["code_challenge"], query["redirect_uri"]
        )
        return f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"

    def token(self, form: dict[str, str], authorization: str) -> tuple[int, dict[str, Any]]:
        """The token endpoint: Basic client auth, one use per code, PKCE checked."""
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if authorization != f"Basic {expected}":
            return 401, {"error": "invalid_client"}
        grant = self._codes.pop(form.get("code", ""), None)
        verifier = form.get("code_verifier", "")
        digest = hashlib.sha256(verifier.encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        if grant is None or challenge != grant.challenge:
            return 400, {"error": "invalid_grant"}
        if form.get("redirect_uri") != grant.redirect_uri:
            return 400, {"error": "invalid_grant"}
        return 200, {
            "access_token": secrets.token_urlsafe(16),
            "token_type": "Bearer",
            "id_token": self.id_token(grant),
        }

    def id_token(self, grant: _Grant) -> str:
        """An ID token for a grant, spoiled as the knobs say."""
        now = int(time.time())
        claims = {
            "iss": self.knobs.issuer or self.url,
            "aud": self.knobs.audience or CLIENT_ID,
            "sub": grant.user.subject,
            "iat": now,
            "exp": now + 300,
            "nonce": self.knobs.nonce or grant.nonce,
            "email": grant.user.email,
            "email_verified": grant.user.email_verified,
            "name": grant.user.name,
        }
        key = self._forger if self.knobs.forged else self._key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "standin-1"})

    def reset(self) -> None:
        """A well-behaved provider with its default user again."""
        self.user, self.knobs = StandInUser(), Knobs()

    def close(self) -> None:
        """Stop serving."""
        self._server.close()
