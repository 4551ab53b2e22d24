"""Signing keys: thumbprints, encryption at rest, keys from the environment, secret changes,
and the two lines (EdDSA, RS256) living side by side.
"""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest
from apiflask import APIFlask
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import (
    RSAPrivateKey,
    RSAPublicNumbers,
    generate_private_key,
)

from auth.keys.service import (
    KeyCipher,
    KeysManagedOutside,
    KeyUnreadable,
    load_private_key,
    public_jwk,
    public_pem,
)
from auth.settings import AuthSettings
from chassis.settings import UnsafeConfiguration

from ..conftest import AppFactory, log_in, make_account, parts


def pem_of(key: Ed25519PrivateKey | RSAPrivateKey) -> str:
    """Unencrypted PKCS#8 PEM, as an operator would mount it."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def test_kid_is_the_rfc_7638_thumbprint() -> None:
    # RFC 8037 appendix A.2 and A.3: this public key's thumbprint.
    raw = jwt.utils.base64url_decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
    jwk = public_jwk(Ed25519PublicKey.from_public_bytes(raw))
    assert jwk["kid"] == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_rsa_kid_is_the_rfc_7638_thumbprint() -> None:
    # RFC 7638 §3.1: the example RSA key and its thumbprint.
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_B"
        "JECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_F"
        "DW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4"
        "vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    key = RSAPublicNumbers(65537, int.from_bytes(jwt.utils.base64url_decode(n), "big"))

    jwk = public_jwk(key.public_key())

    assert jwk["kid"] == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    assert (jwk["kty"], jwk["n"], jwk["e"], jwk["alg"]) == ("RSA", n, "AQAB", "RS256")
    assert public_pem(jwk).startswith("-----BEGIN PUBLIC KEY-----")


def test_a_key_of_the_wrong_kind_or_too_short_is_refused() -> None:
    ed25519 = pem_of(Ed25519PrivateKey.generate())
    # Too short on purpose: refusing it is what is tested.
    short = pem_of(generate_private_key(public_exponent=65537, key_size=1024))  # noqa: S505

    with pytest.raises(ValueError, match="RSA private key"):
        load_private_key(ed25519, "RS256")
    with pytest.raises(ValueError, match="Ed25519 private key"):
        load_private_key(pem_of(_rsa()), "EdDSA")
    with pytest.raises(ValueError, match="2048 bits"):
        load_private_key(short, "RS256")


def test_cipher_round_trips_and_another_secret_cannot_read() -> None:
    key = Ed25519PrivateKey.generate()
    stored = KeyCipher("one secret").encrypt(key)

    assert KeyCipher("one secret").decrypt(stored).public_key() == key.public_key()
    with pytest.raises(KeyUnreadable, match="BAZAAR_SECRET_KEY"):
        KeyCipher("another secret").decrypt(stored)


def test_a_key_from_the_environment_signs_and_the_stored_one_retires(
    make_fresh_app: AppFactory,
) -> None:
    embedded = make_fresh_app()
    embedded_kid = jwt.get_unverified_header(_token(embedded, "ann@example.com"))["kid"]
    outside = Ed25519PrivateKey.generate()

    app = make_fresh_app(signing_key=pem_of(outside))

    kid = public_jwk(outside.public_key())["kid"]
    token = _token(app, "bob@example.com")
    assert jwt.get_unverified_header(token)["kid"] == kid
    jwt.decode(token, outside.public_key(), algorithms=["EdDSA"], audience="bazaar")
    published = _published(app, "OKP")
    assert published == [kid, embedded_kid]  # the retired key stays until its tokens expire
    with parts(app).db.session() as session, pytest.raises(KeysManagedOutside):
        parts(app).keys.rotate(session, "EdDSA")
    # The RS256 line is still the database's own: it rotates.
    with parts(app).db.session() as session:
        new, _ = parts(app).keys.rotate(session, "RS256")
    assert new.alg == "RS256" and _published(app, "OKP") == [kid, embedded_kid]


def test_an_rsa_key_from_the_environment_signs_id_tokens(
    make_fresh_app: AppFactory, tmp_path: Path
) -> None:
    outside = _rsa()
    secret_file = tmp_path / "rsa-signing-key.pem"
    secret_file.write_text(pem_of(outside))

    app = make_fresh_app(rsa_signing_key_file=secret_file)

    kid = public_jwk(outside.public_key())["kid"]
    assert _published(app, "RSA") == [kid]
    with parts(app).db.session() as session:
        active = parts(app).keys.signing_key(session, "RS256")
        assert active.kid == kid
        with pytest.raises(KeysManagedOutside, match="RSA_SIGNING_KEY"):
            parts(app).keys.rotate(session, "RS256")


def test_a_key_from_a_mounted_file(make_fresh_app: AppFactory, tmp_path: Path) -> None:
    outside = Ed25519PrivateKey.generate()
    secret_file = tmp_path / "signing-key.pem"
    secret_file.write_text(pem_of(outside))

    app = make_fresh_app(signing_key_file=secret_file)

    token = _token(app, "ann@example.com")
    assert jwt.get_unverified_header(token)["kid"] == public_jwk(outside.public_key())["kid"]


def test_key_from_both_variable_and_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsafeConfiguration, match="not both"):
        AuthSettings(signing_key="x", signing_key_file=tmp_path / "key.pem")
    with pytest.raises(UnsafeConfiguration, match="not both"):
        AuthSettings(rsa_signing_key="x", rsa_signing_key_file=tmp_path / "key.pem")


def test_a_changed_secret_starts_a_new_key_and_keeps_the_old_one_published(
    make_fresh_app: AppFactory,
) -> None:
    before = make_fresh_app()
    old = parts(before).ensure_signing_keys()

    after = make_fresh_app(secret_key="a different secret of at least 32 characters")

    new = parts(after).ensure_signing_keys()
    assert set(new) == {"EdDSA", "RS256"}
    assert new["EdDSA"] != old["EdDSA"] and new["RS256"] != old["RS256"]
    assert _published(after, "OKP") == [new["EdDSA"], old["EdDSA"]]
    assert _published(after, "RSA") == [new["RS256"], old["RS256"]]
    assert jwt.get_unverified_header(_token(after, "ann@example.com"))["kid"] == new["EdDSA"]


def _rsa() -> RSAPrivateKey:
    return generate_private_key(public_exponent=65537, key_size=2048)


def _published(app: APIFlask, kty: str) -> list[str]:
    """The kids the JWKS publishes for one kind of key, in its order."""
    keys = app.test_client().get("/.well-known/jwks.json").get_json()["keys"]
    return [key["kid"] for key in keys if key["kty"] == kty]


def _token(app: APIFlask, email: str) -> str:
    make_account(app, email=email)
    token: str = log_in(app.test_client(), email).get_json()["access_token"]
    return token
