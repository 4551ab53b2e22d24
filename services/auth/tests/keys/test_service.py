"""Signing keys: thumbprints, encryption at rest, keys from the environment, secret changes."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest
from apiflask import APIFlask
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from auth.keys.service import KeyCipher, KeysManagedOutside, KeyUnreadable, public_jwk
from auth.settings import AuthSettings
from chassis.settings import UnsafeConfiguration

from ..conftest import AppFactory, log_in, make_account, parts


def pem_of(key: Ed25519PrivateKey) -> str:
    """Unencrypted PKCS#8 PEM, as an operator would mount it."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def test_kid_is_the_rfc_7638_thumbprint() -> None:
    # RFC 8037 appendix A.2 and A.3: this public key's thumbprint.
    raw = jwt.utils.base64url_decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
    jwk = public_jwk(Ed25519PublicKey.from_public_bytes(raw))
    assert jwk["kid"] == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


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
    published = [
        key["kid"] for key in app.test_client().get("/.well-known/jwks.json").get_json()["keys"]
    ]
    assert published == [kid, embedded_kid]  # the retired key stays until its tokens expire
    with parts(app).db.session() as session, pytest.raises(KeysManagedOutside):
        parts(app).keys.rotate(session)


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


def test_a_changed_secret_starts_a_new_key_and_keeps_the_old_one_published(
    make_fresh_app: AppFactory,
) -> None:
    before = make_fresh_app()
    old_kid = parts(before).ensure_signing_key()

    after = make_fresh_app(secret_key="a different secret of at least 32 characters")

    new_kid = parts(after).ensure_signing_key()
    assert new_kid != old_kid
    published = [
        key["kid"] for key in after.test_client().get("/.well-known/jwks.json").get_json()["keys"]
    ]
    assert published == [new_kid, old_kid]
    assert jwt.get_unverified_header(_token(after, "ann@example.com"))["kid"] == new_kid


def _token(app: APIFlask, email: str) -> str:
    make_account(app, email=email)
    token: str = log_in(app.test_client(), email).get_json()["access_token"]
    return token
