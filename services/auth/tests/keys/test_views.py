"""GET /.well-known/jwks.json and key rotation."""

from __future__ import annotations

import base64
import datetime as dt

import jwt
import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from auth.keys.service import public_pem
from auth.models import SigningKey
from chassis.auth import TokenVerifier
from chassis.db import utcnow
from chassis.errors import Unauthorized

from ..conftest import log_in, make_account, parts, problem_of


def jwks(client: FlaskClient, alg: str = "EdDSA") -> list[dict[str, str]]:
    """The published keys of one line (EdDSA: the access tokens')."""
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    keys: list[dict[str, str]] = response.get_json()["keys"]
    return [key for key in keys if key["alg"] == alg]


def verify_with_jwks(client: FlaskClient, token: str) -> str:
    """Verify as another service would, with whatever the JWKS publishes now; the subject."""
    kid = jwt.get_unverified_header(token)["kid"]
    published = {key["kid"]: key for key in jwks(client)}
    if kid not in published:
        raise Unauthorized("The token's signing key is unknown.")
    verifier = TokenVerifier(
        issuer="bazaar-auth", audience="bazaar", public_key=public_pem(published[kid])
    )
    return verifier.verify(token).subject


def test_jwks_publishes_the_ed25519_key_that_signs_tokens(
    app: APIFlask, client: FlaskClient
) -> None:
    account = make_account(app, email="ann@example.com")
    token = log_in(client, "ann@example.com").get_json()["access_token"]

    response = client.get("/.well-known/jwks.json")

    assert response.headers["Cache-Control"].startswith("public")
    ed25519, rsa = sorted(response.get_json()["keys"], key=lambda key: key["kty"])
    assert (ed25519["kty"], ed25519["crv"], ed25519["alg"], ed25519["use"]) == (
        "OKP",
        "Ed25519",
        "EdDSA",
        "sig",
    )
    assert ed25519["kid"] == jwt.get_unverified_header(token)["kid"]
    assert len(base64.urlsafe_b64decode(ed25519["x"] + "==")) == 32
    assert (rsa["kty"], rsa["alg"], rsa["use"], rsa["e"]) == ("RSA", "RS256", "sig", "AQAB")
    assert len(base64.urlsafe_b64decode(rsa["n"] + "==")) == 256  # 2048 bits
    assert not {"d", "p", "q", "dp", "dq", "qi"} & (set(ed25519) | set(rsa))  # public parts only
    assert verify_with_jwks(client, token) == account.id


def test_a_token_signed_by_the_rsa_line_is_no_access_token(
    app: APIFlask, client: FlaskClient, session: Session
) -> None:
    account = make_account(app, email="ann@example.com")
    # Claims and header of an access token, signed with the ID tokens' RS256 key.
    claims = jwt.decode(
        log_in(client, "ann@example.com").get_json()["access_token"],
        options={"verify_signature": False},
    )
    key = parts(app).keys.signing_key(session, "RS256")
    forged = jwt.encode(
        claims, key.private_key, algorithm="RS256", headers={"kid": key.kid, "typ": "at+jwt"}
    )
    (rsa,) = jwks(client, "RS256")
    verifier = TokenVerifier(issuer="bazaar-auth", audience="bazaar", public_key=public_pem(rsa))

    with pytest.raises(Unauthorized, match="algorithm"):
        verifier.verify(forged)
    problem_of(client.post("/logout", headers={"Authorization": f"Bearer {forged}"}), 401)
    assert account.id


def test_private_keys_are_encrypted_at_rest(app: APIFlask, session: Session) -> None:
    rows = session.query(SigningKey).filter(SigningKey.retired_at.is_(None)).all()

    assert sorted(row.alg for row in rows) == ["EdDSA", "RS256"]
    for row in rows:
        assert row.private_key is not None
        assert "PRIVATE KEY" not in row.private_key
        assert parts(app).keys.signing_key(session, row.alg).kid == row.kid


def test_rotation_publishes_the_new_key_before_it_signs(
    app: APIFlask, client: FlaskClient, session: Session
) -> None:
    make_account(app, email="ann@example.com")
    old_kid = jwt.get_unverified_header(
        log_in(client, "ann@example.com").get_json()["access_token"]
    )["kid"]

    (rsa_kid,) = [key["kid"] for key in jwks(client, "RS256")]
    with parts(app).db.session() as unit:
        new, retiring = parts(app).keys.rotate(unit, "EdDSA")
        new_kid = new.kid

    assert [key.kid for key in retiring] == [old_kid]  # the RS256 line is left alone
    assert [key["kid"] for key in jwks(client)] == [new_kid, old_kid]
    assert [key["kid"] for key in jwks(client, "RS256")] == [rsa_kid]
    # Within the lead (60 s) the old key still signs: verifiers may not have the new one.
    during = log_in(client, "ann@example.com").get_json()["access_token"]
    assert jwt.get_unverified_header(during)["kid"] == old_kid

    _shift(session, new_kid, created_by=61)
    _shift(session, old_kid, retired_by=1)

    after = log_in(client, "ann@example.com").get_json()["access_token"]
    assert jwt.get_unverified_header(after)["kid"] == new_kid


def test_rotation_keeps_old_tokens_valid_until_their_key_leaves_the_jwks(
    app: APIFlask, client: FlaskClient, session: Session
) -> None:
    make_account(app, email="ann@example.com")
    old_token = log_in(client, "ann@example.com").get_json()["access_token"]
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    with parts(app).db.session() as unit:
        new_kid = parts(app).keys.rotate(unit, "EdDSA")[0].kid
    _shift(session, new_kid, created_by=61)
    _shift(session, old_kid, retired_by=1)
    new_token = log_in(client, "ann@example.com").get_json()["access_token"]

    assert [key["kid"] for key in jwks(client)] == [new_kid, old_kid]
    assert verify_with_jwks(client, old_token)
    assert verify_with_jwks(client, new_token)
    assert (
        client.post("/logout", headers={"Authorization": f"Bearer {old_token}"}).status_code == 204
    )

    # One access-token lifetime after retirement, the old key's last token has expired.
    _shift(session, old_kid, retired_by=901)

    assert [key["kid"] for key in jwks(client)] == [new_kid]
    with pytest.raises(Unauthorized):
        verify_with_jwks(client, old_token)
    problem_of(client.post("/logout", headers={"Authorization": f"Bearer {old_token}"}), 401)
    assert verify_with_jwks(client, new_token)


def _shift(session: Session, kid: str, *, created_by: int = 0, retired_by: int = 0) -> None:
    """Move a key's creation or retirement that many seconds into the past."""
    now = utcnow()
    values = {}
    if created_by:
        values["created_at"] = now - dt.timedelta(seconds=created_by)
    if retired_by:
        values["retired_at"] = now - dt.timedelta(seconds=retired_by)
    session.execute(update(SigningKey).where(SigningKey.kid == kid).values(**values))
    session.commit()
