"""TokenVerifier: the tokens it accepts, every defect it refuses, and JWKS key lookup."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm

from chassis.auth import Principal, TokenVerifier, bearer_token, verifier_from_settings
from chassis.errors import Unauthorized
from chassis.settings import ServiceSettings
from chassis.testing import TokenMinter

ISSUER, AUDIENCE = "bazaar-auth", "bazaar"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def standard_claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "iat": now, "exp": now + 300}
    claims.update(overrides)
    return claims


def public_pem(key: Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture
def verifier(token_minter: TokenMinter) -> TokenVerifier:
    return TokenVerifier(issuer=ISSUER, audience=AUDIENCE, public_key=token_minter.public_pem)


@pytest.fixture(scope="module")
def own_key() -> Ed25519PrivateKey:
    """A key whose private half the tests hold, to sign arbitrary payloads."""
    return Ed25519PrivateKey.generate()


# -- accepted tokens ------------------------------------------------------------------


def test_accepts_a_good_eddsa_token(verifier: TokenVerifier, token_minter: TokenMinter) -> None:
    token = token_minter.mint("user-42", roles=("admin", "staff"), scopes=("catalog:write", "x"))

    principal = verifier.verify(token)

    assert principal.subject == "user-42"
    assert principal.roles == frozenset({"admin", "staff"})
    assert principal.scopes == frozenset({"catalog:write", "x"})
    assert principal.claims["iss"] == ISSUER
    assert principal.has_role("admin") and not principal.has_role("root")
    assert principal.has_scope("catalog:write") and not principal.has_scope("catalog")


def test_accepts_an_es256_token() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(standard_claims(), key, algorithm="ES256", headers={"typ": "at+jwt"})
    verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, public_key=public_pem(key))

    assert verifier.verify(token).subject == "user-1"


def test_token_without_roles_or_scope_has_none(own_key: Ed25519PrivateKey) -> None:
    token = jwt.encode(standard_claims(), own_key, algorithm="EdDSA", headers={"typ": "at+jwt"})
    verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, public_key=public_pem(own_key))

    principal = verifier.verify(token)

    assert principal == Principal(subject="user-1", claims=principal.claims)
    assert principal.roles == frozenset() and principal.scopes == frozenset()


def test_accepts_a_token_expired_within_the_leeway(
    verifier: TokenVerifier, token_minter: TokenMinter
) -> None:
    assert verifier.verify(token_minter.mint(ttl=-5)).subject == "user-1"


def test_needs_a_key_source() -> None:
    with pytest.raises(ValueError, match="public key or a JWKS URL"):
        TokenVerifier(issuer=ISSUER, audience=AUDIENCE)


# -- refused tokens -------------------------------------------------------------------


def test_refuses_an_expired_token(verifier: TokenVerifier, token_minter: TokenMinter) -> None:
    with pytest.raises(Unauthorized, match="expired"):
        verifier.verify(token_minter.mint(ttl=-120))


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "another-audience"},
        {"iss": "https://evil.example"},
        {"nbf": int(time.time()) + 3600},
        {"sub": None},
        {"exp": None},
        {"iat": None},
        {"exp": "soon"},
    ],
    ids=["wrong-aud", "wrong-iss", "not-yet-valid", "null-sub", "null-exp", "null-iat", "bad-exp"],
)
def test_refuses_a_token_with_bad_claims(
    verifier: TokenVerifier, token_minter: TokenMinter, claims: dict[str, Any]
) -> None:
    with pytest.raises(Unauthorized):
        verifier.verify(token_minter.mint(**claims))


@pytest.mark.parametrize("missing", ["sub", "exp", "iat", "iss", "aud"])
def test_refuses_a_token_missing_a_required_claim(own_key: Ed25519PrivateKey, missing: str) -> None:
    claims = standard_claims()
    del claims[missing]
    token = jwt.encode(claims, own_key, algorithm="EdDSA", headers={"typ": "at+jwt"})
    verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, public_key=public_pem(own_key))

    with pytest.raises(Unauthorized, match="invalid"):
        verifier.verify(token)


@pytest.mark.parametrize("claims", [{"roles": "admin"}, {"scope": ["catalog:write"]}])
def test_refuses_malformed_roles_or_scope(
    own_key: Ed25519PrivateKey, claims: dict[str, Any]
) -> None:
    token = jwt.encode(
        standard_claims(**claims), own_key, algorithm="EdDSA", headers={"typ": "at+jwt"}
    )
    verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, public_key=public_pem(own_key))

    with pytest.raises(Unauthorized, match="claims are malformed"):
        verifier.verify(token)


@pytest.mark.parametrize("typ", ["JWT", "id+jwt", None])
def test_refuses_a_token_that_is_not_an_access_token(
    verifier: TokenVerifier, token_minter: TokenMinter, typ: str | None
) -> None:
    token = token_minter.mint(headers={"typ": typ})

    with pytest.raises(Unauthorized, match="not an access token"):
        verifier.verify(token)


def test_refuses_alg_none(verifier: TokenVerifier) -> None:
    header = {"alg": "none", "typ": "at+jwt"}
    token = f"{b64url_json(header)}.{b64url_json(standard_claims())}."

    with pytest.raises(Unauthorized, match="algorithm is not accepted"):
        verifier.verify(token)


def test_refuses_hs256_signed_with_the_public_key_as_secret(
    verifier: TokenVerifier, token_minter: TokenMinter
) -> None:
    # The classic key-confusion attack: an HMAC keyed with the verifier's public PEM.
    signing_input = (
        f"{b64url_json({'alg': 'HS256', 'typ': 'at+jwt'})}.{b64url_json(standard_claims())}"
    )
    mac = hmac.new(token_minter.public_pem.encode(), signing_input.encode(), hashlib.sha256)
    token = f"{signing_input}.{b64url(mac.digest())}"

    with pytest.raises(Unauthorized, match="algorithm is not accepted"):
        verifier.verify(token)


def test_refuses_a_tampered_payload(verifier: TokenVerifier, token_minter: TokenMinter) -> None:
    header, _, signature = token_minter.mint("user-1").split(".")
    forged_payload = b64url_json(standard_claims(sub="admin", roles=["admin"]))

    with pytest.raises(Unauthorized, match="invalid"):
        verifier.verify(f"{header}.{forged_payload}.{signature}")


def test_refuses_a_token_signed_by_another_key(
    verifier: TokenVerifier, own_key: Ed25519PrivateKey
) -> None:
    token = jwt.encode(standard_claims(), own_key, algorithm="EdDSA", headers={"typ": "at+jwt"})

    with pytest.raises(Unauthorized, match="invalid"):
        verifier.verify(token)


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c", "....", "eyJhbGciOiJFZERTQSJ9"])
def test_refuses_garbage(verifier: TokenVerifier, token: str) -> None:
    with pytest.raises(Unauthorized):
        verifier.verify(token)


# -- JWKS -----------------------------------------------------------------------------


class JwksServer:
    """Serves one JWKS document from a real local HTTP server and counts fetches."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        body = json.dumps(jwks).encode()
        self.fetches = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.fetches += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def jwks_server(token_minter: TokenMinter) -> Iterator[JwksServer]:
    public_key = serialization.load_pem_public_key(token_minter.public_pem.encode())
    assert isinstance(public_key, Ed25519PublicKey)
    jwk = OKPAlgorithm.to_jwk(public_key, as_dict=True)
    jwk.update(kid=token_minter.kid, use="sig", alg="EdDSA")
    server = JwksServer({"keys": [jwk]})
    yield server
    server.stop()


@pytest.fixture
def jwks_verifier(jwks_server: JwksServer) -> TokenVerifier:
    return TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks_url=jwks_server.url)


def test_jwks_verifies_a_good_token_and_caches_the_keys(
    jwks_verifier: TokenVerifier, jwks_server: JwksServer, token_minter: TokenMinter
) -> None:
    assert jwks_verifier.verify(token_minter.mint("user-7")).subject == "user-7"
    assert jwks_verifier.verify(token_minter.mint("user-8")).subject == "user-8"

    assert jwks_server.fetches == 1


def test_jwks_unknown_kid_is_refused_without_hammering_the_endpoint(
    jwks_verifier: TokenVerifier, jwks_server: JwksServer, token_minter: TokenMinter
) -> None:
    jwks_verifier.verify(token_minter.mint())

    for _ in range(3):
        with pytest.raises(Unauthorized, match="signing key is unknown"):
            jwks_verifier.verify(token_minter.mint(headers={"kid": "rotated-away"}))

    # PyJWKClient refetches for an unknown kid at most once per cooldown (30 s).
    assert jwks_server.fetches == 1


def test_jwks_refuses_a_token_without_kid(
    jwks_verifier: TokenVerifier, own_key: Ed25519PrivateKey
) -> None:
    token = jwt.encode(standard_claims(), own_key, algorithm="EdDSA", headers={"typ": "at+jwt"})

    with pytest.raises(Unauthorized):
        jwks_verifier.verify(token)


def test_jwks_refuses_another_key_claiming_a_known_kid(
    jwks_verifier: TokenVerifier, own_key: Ed25519PrivateKey, token_minter: TokenMinter
) -> None:
    headers = {"typ": "at+jwt", "kid": token_minter.kid}
    token = jwt.encode(standard_claims(), own_key, algorithm="EdDSA", headers=headers)

    with pytest.raises(Unauthorized, match="invalid"):
        jwks_verifier.verify(token)


def test_unreachable_jwks_fails_closed(token_minter: TokenMinter, jwks_server: JwksServer) -> None:
    url = jwks_server.url
    jwks_server.stop()
    verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks_url=url, jwks_timeout=0.5)

    with pytest.raises(Unauthorized):
        verifier.verify(token_minter.mint())


# -- bearer_token and settings -----------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (None, None),
        ("", None),
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer abc", "abc"),
        ("BEARER  abc  ", "abc"),
    ],
)
def test_bearer_token_extracts_the_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "abc.def.ghi"])
def test_bearer_token_refuses_other_schemes_and_empty_tokens(header: str) -> None:
    with pytest.raises(Unauthorized, match="Bearer"):
        bearer_token(header)


class KeyedSettings(ServiceSettings):
    service_name = "keyed"


def test_verifier_from_settings_needs_a_key_source(token_minter: TokenMinter) -> None:
    assert verifier_from_settings(KeyedSettings()) is None

    verifier = verifier_from_settings(
        KeyedSettings(jwt_public_key=token_minter.public_pem, jwt_audience="shop")
    )

    assert verifier is not None
    assert verifier.audience == "shop"
    with pytest.raises(Unauthorized):
        verifier.verify(token_minter.mint())  # minted for audience "bazaar"
