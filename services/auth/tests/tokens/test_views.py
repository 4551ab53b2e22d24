"""POST /token: the password, refresh_token and client_credentials grants (RFC 6749)."""

from __future__ import annotations

import base64
import datetime as dt
from urllib.parse import quote_plus

import jwt
import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from auth.credentials.passwords import Passwords
from auth.models import Credential, RefreshFamily, RefreshToken
from auth.tokens.service import token_hash
from chassis.db import utcnow

from ..authorize.flow import Flow
from ..conftest import (
    PASSWORD,
    AppFactory,
    log_in,
    make_account,
    make_client,
    parts,
    problem_of,
)


def claims_of(token: str) -> dict[str, object]:
    """A token's claims, unverified (the JWKS tests verify signatures)."""
    decoded: dict[str, object] = jwt.decode(token, options={"verify_signature": False})
    return decoded


def refresh(client: FlaskClient, token: str) -> object:
    """The refresh_token grant."""
    return client.post("/token", data={"grant_type": "refresh_token", "refresh_token": token})


# -- password ------------------------------------------------------------------------------


def test_password_grant_answers_access_and_refresh_tokens(
    app: APIFlask, client: FlaskClient
) -> None:
    account = make_account(app, email="ann@example.com")

    response = log_in(client, "  ANN@example.com ")

    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    assert (body["token_type"], body["expires_in"], body["scope"]) == ("Bearer", 900, "")
    header = jwt.get_unverified_header(body["access_token"])
    assert (header["alg"], header["typ"]) == ("EdDSA", "at+jwt")
    assert header["kid"]
    claims = claims_of(body["access_token"])
    assert claims["iss"] == "bazaar-auth" and claims["aud"] == "bazaar"
    assert claims["sub"] == account.id
    assert claims["roles"] == ["customer"] and claims["scope"] == ""
    assert claims["exp"] == claims["iat"] + 900  # type: ignore[operator]
    assert claims["jti"]
    assert "." not in body["refresh_token"]  # opaque, not a JWT
    assert len(body["refresh_token"]) >= 43


def test_password_grant_accepts_json(app: APIFlask, client: FlaskClient) -> None:
    make_account(app, email="ann@example.com")
    response = client.post(
        "/token",
        json={
            "grant_type": "password",
            "username": "ann@example.com",
            "password": "a long enough passphrase",
        },
    )
    assert response.status_code == 200


def test_admin_token_carries_the_admin_role(app: APIFlask, client: FlaskClient) -> None:
    make_account(app, email="root@example.com", roles=("admin",))
    token = log_in(client, "root@example.com").get_json()["access_token"]
    assert claims_of(token)["roles"] == ["admin"]


def test_wrong_password_is_invalid_grant(app: APIFlask, client: FlaskClient) -> None:
    make_account(app, email="ann@example.com")
    problem = problem_of(
        log_in(client, "ann@example.com", "not the password"), 400, "invalid_grant"
    )
    assert problem["type"] == "/problems/invalid-grant"


def test_refresh_token_is_stored_only_as_its_sha256(
    app: APIFlask, client: FlaskClient, session: Session
) -> None:
    make_account(app, email="ann@example.com")
    token = log_in(client, "ann@example.com").get_json()["refresh_token"]

    stored = session.query(RefreshToken).one()
    assert stored.token_hash == token_hash(token) != token


def test_login_rehashes_a_password_hashed_with_weaker_parameters(
    app: APIFlask, client: FlaskClient, session: Session
) -> None:
    from argon2 import PasswordHasher

    account = make_account(app, email="ann@example.com")
    weak = Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    session.execute(
        update(Credential)
        .where(Credential.id == account.id)
        .values(password_hash=weak.hash("a long enough passphrase"))
    )
    session.commit()

    assert log_in(client, "ann@example.com").status_code == 200

    session.expire_all()
    stored = session.get(Credential, account.id)
    assert stored is not None
    assert stored.password_hash.startswith("$argon2id$v=19$m=64,t=1,p=1$")
    assert log_in(client, "ann@example.com").status_code == 200


@pytest.mark.parametrize(
    "data",
    [
        {"grant_type": "password", "username": "ann@example.com"},
        {"grant_type": "password", "password": "x"},
        {"grant_type": "refresh_token"},
        {},
        {"username": "ann@example.com", "password": "x"},
    ],
)
def test_missing_parameters_are_invalid_request(client: FlaskClient, data: dict[str, str]) -> None:
    problem_of(client.post("/token", data=data), 400, "invalid_request")


def test_a_repeated_parameter_is_invalid_request(client: FlaskClient) -> None:
    response = client.post(
        "/token",
        data="grant_type=password&username=a%40b.c&password=x&password=y",
        content_type="application/x-www-form-urlencoded",
    )
    problem_of(response, 400, "invalid_request")


@pytest.mark.parametrize("body", ["{not json", "[1, 2]", '{"grant_type": 5}'])
def test_malformed_json_is_invalid_request(client: FlaskClient, body: str) -> None:
    response = client.post("/token", data=body, content_type="application/json")
    problem_of(response, 400, "invalid_request")


@pytest.mark.parametrize("grant_type", ["implicit", "PASSWORD", ""])
def test_unknown_grant_types_are_unsupported(client: FlaskClient, grant_type: str) -> None:
    problem_of(
        client.post("/token", data={"grant_type": grant_type}), 400, "unsupported_grant_type"
    )


def test_unknown_parameters_are_ignored(app: APIFlask, client: FlaskClient) -> None:
    make_account(app, email="ann@example.com")
    response = (
        log_in(client, "ann@example.com", data_extra=None)
        if False
        else client.post(
            "/token",
            data={
                "grant_type": "password",
                "username": "ann@example.com",
                "password": "a long enough passphrase",
                "client_hint": "web",
            },
        )
    )
    assert response.status_code == 200


def test_other_media_types_are_415(client: FlaskClient) -> None:
    response = client.post("/token", data="grant_type=password", content_type="text/plain")
    problem_of(response, 415)


# -- cookie --------------------------------------------------------------------------------


def _storefront_sign_in(client: FlaskClient, email: str) -> TestResponse:
    flow = Flow()
    return flow.redeem(client, flow.code(client, email, PASSWORD))


def test_refresh_cookie_is_httponly_strict_and_scoped_to_auth(
    app: APIFlask, client: FlaskClient
) -> None:
    make_account(app, email="ann@example.com")
    response = _storefront_sign_in(client, "ann@example.com")

    (cookie,) = response.headers.getlist("Set-Cookie")
    attributes = [part.strip() for part in cookie.split(";")]
    assert attributes[0].startswith("bazaar_refresh=") and len(attributes[0]) > 40
    assert "refresh_token" not in response.get_json()  # the cookie is its only copy
    assert "HttpOnly" in attributes
    assert "SameSite=Strict" in attributes
    assert "Path=/api/auth" in attributes
    assert "Secure" not in attributes  # env=test: plain HTTP on a developer's machine
    assert any(a.startswith("Expires=") for a in attributes)


def test_refresh_cookie_is_secure_in_production(make_fresh_app: AppFactory) -> None:
    app = make_fresh_app(
        env="production",
        secret_key="s" * 40,
        jwks_url="http://127.0.0.1:8002/.well-known/jwks.json",
        public_origin="http://127.0.0.1:8000",
        argon2_memory_kib=19456,
        argon2_time_cost=2,
    )
    make_account(app, email="ann@example.com")

    response = _storefront_sign_in(app.test_client(), "ann@example.com")

    refresh = [c for c in response.headers.getlist("Set-Cookie") if "bazaar_refresh=" in c]
    assert "Secure" in [part.strip() for part in refresh[0].split(";")]


def test_the_password_grant_answers_no_cookie(app: APIFlask, client: FlaskClient) -> None:
    make_account(app, email="ann@example.com")

    response = log_in(client, "ann@example.com")

    assert response.get_json()["refresh_token"]
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize(
    ("env", "enabled", "served"),
    [("development", None, True), ("test", None, False), ("test", True, True)],
)
def test_the_password_grant_is_off_by_default_outside_development(
    make_app: AppFactory, env: str, enabled: bool | None, served: bool
) -> None:
    app = make_app(env=env, password_grant=enabled)
    make_account(app, email="ann@example.com")

    response = log_in(app.test_client(), "ann@example.com")

    if served:
        assert response.status_code == 200
    else:
        problem_of(response, 400, "unsupported_grant_type")
    discovery = app.test_client().get("/.well-known/oauth-authorization-server").get_json()
    assert ("password" in discovery["grant_types_supported"]) is served


def test_the_password_grant_is_off_in_production_by_default(make_fresh_app: AppFactory) -> None:
    app = make_fresh_app(
        env="production",
        password_grant=None,
        secret_key="s" * 40,
        jwks_url="http://127.0.0.1:8002/.well-known/jwks.json",
        public_origin="http://127.0.0.1:8000",
        argon2_memory_kib=19456,
        argon2_time_cost=2,
    )
    make_account(app, email="ann@example.com")

    problem_of(log_in(app.test_client(), "ann@example.com"), 400, "unsupported_grant_type")


# -- refresh_token ---------------------------------------------------------------------------


def test_refresh_rotates_the_token_and_the_old_one_dies(app: APIFlask, client: FlaskClient) -> None:
    account = make_account(app, email="ann@example.com")
    first = log_in(client, "ann@example.com").get_json()["refresh_token"]

    response = refresh(client, first)

    assert response.status_code == 200  # type: ignore[attr-defined]
    body = response.get_json()  # type: ignore[attr-defined]
    assert body["refresh_token"] != first
    assert claims_of(body["access_token"])["sub"] == account.id
    problem_of(refresh(client, first), 400, "invalid_grant")  # type: ignore[arg-type]


def test_reusing_a_refresh_token_revokes_the_whole_family(
    app: APIFlask, client: FlaskClient
) -> None:
    make_account(app, email="ann@example.com")
    first = log_in(client, "ann@example.com").get_json()["refresh_token"]
    second = refresh(client, first).get_json()["refresh_token"]  # type: ignore[attr-defined]
    third = refresh(client, second).get_json()["refresh_token"]  # type: ignore[attr-defined]

    problem_of(refresh(client, first), 400, "invalid_grant")  # type: ignore[arg-type]

    # The revocation was committed although that answer was an error: the newest dies too.
    problem_of(refresh(client, third), 400, "invalid_grant")  # type: ignore[arg-type]


def test_reuse_revokes_only_that_family(app: APIFlask, client: FlaskClient) -> None:
    make_account(app, email="ann@example.com")
    laptop = log_in(client, "ann@example.com").get_json()["refresh_token"]
    phone = log_in(client, "ann@example.com").get_json()["refresh_token"]
    refresh(client, laptop)

    refresh(client, laptop)  # reuse: the laptop's family ends

    assert refresh(client, phone).status_code == 200  # type: ignore[attr-defined]


def test_refresh_token_from_the_cookie(app: APIFlask, client: FlaskClient) -> None:
    make_account(app, email="ann@example.com")
    token = log_in(client, "ann@example.com").get_json()["refresh_token"]
    client.set_cookie("bazaar_refresh", token, path="/")

    response = client.post("/token", data={"grant_type": "refresh_token"})

    assert response.status_code == 200
    # From the cookie, into the cookie: a browser's script never sees a refresh token.
    assert "refresh_token" not in response.get_json()
    rotated = client.get_cookie("bazaar_refresh", path="/api/auth")
    assert rotated is not None and rotated.value != token


def test_an_idle_refresh_token_expires(
    app: APIFlask, client: FlaskClient, session: Session
) -> None:
    make_account(app, email="ann@example.com")
    token = log_in(client, "ann@example.com").get_json()["refresh_token"]
    session.execute(update(RefreshToken).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    session.commit()

    problem_of(refresh(client, token), 400, "invalid_grant")  # type: ignore[arg-type]


def test_a_family_ends_after_its_absolute_lifetime(
    app: APIFlask, client: FlaskClient, session: Session
) -> None:
    make_account(app, email="ann@example.com")
    token = log_in(client, "ann@example.com").get_json()["refresh_token"]
    session.execute(update(RefreshFamily).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    session.commit()

    problem_of(refresh(client, token), 400, "invalid_grant")  # type: ignore[arg-type]


def test_refresh_tokens_expire_idle_after_7_days_and_absolutely_after_30(
    app: APIFlask, client: FlaskClient, session: Session
) -> None:
    make_account(app, email="ann@example.com")
    log_in(client, "ann@example.com")

    token = session.query(RefreshToken).one()
    family = session.query(RefreshFamily).one()
    assert token.expires_at - token.created_at == dt.timedelta(days=7)
    assert family.expires_at - family.created_at == dt.timedelta(days=30)


def test_an_unknown_refresh_token_is_invalid_grant(client: FlaskClient) -> None:
    problem_of(refresh(client, "made-up"), 400, "invalid_grant")  # type: ignore[arg-type]


# -- client_credentials ----------------------------------------------------------------------


def basic(client_id: str, secret: str) -> dict[str, str]:
    """HTTP Basic as RFC 6749 §2.3.1 wants it: form-encoded, then base64."""
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def test_client_credentials_with_basic_gives_a_service_token(
    app: APIFlask, client: FlaskClient
) -> None:
    client_id, secret = make_client(app, scopes=("users:write", "catalog:write"))

    response = client.post(
        "/token", data={"grant_type": "client_credentials"}, headers=basic(client_id, secret)
    )

    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert "refresh_token" not in body
    assert "Set-Cookie" not in response.headers
    assert body["scope"] == "users:write catalog:write"
    claims = claims_of(body["access_token"])
    assert claims["sub"] == f"client:{client_id}"
    assert claims["roles"] == []
    assert claims["scope"] == "users:write catalog:write"


def test_client_credentials_in_the_form(app: APIFlask, client: FlaskClient) -> None:
    client_id, secret = make_client(app)
    response = client.post(
        "/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert response.status_code == 200
    assert response.get_json()["scope"] == "users:write"


def test_client_may_ask_for_fewer_scopes_but_not_more(app: APIFlask, client: FlaskClient) -> None:
    client_id, secret = make_client(app, scopes=("users:write", "catalog:write"))

    narrowed = client.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "catalog:write"},
        headers=basic(client_id, secret),
    )
    widened = client.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "orders:write"},
        headers=basic(client_id, secret),
    )

    assert narrowed.get_json()["scope"] == "catalog:write"
    problem_of(widened, 400, "invalid_scope")


@pytest.mark.parametrize(
    "credentials",
    [("{id}", "wrong secret"), ("no-such-client", "{secret}"), ("Bad Id!", "{secret}")],
)
def test_bad_client_credentials_are_invalid_client_401(
    app: APIFlask, client: FlaskClient, credentials: tuple[str, str]
) -> None:
    client_id, secret = make_client(app)
    wanted_id, wanted_secret = (c.format(id=client_id, secret=secret) for c in credentials)

    response = client.post(
        "/token",
        data={"grant_type": "client_credentials"},
        headers=basic(wanted_id, wanted_secret),
    )

    problem_of(response, 401, "invalid_client")
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_client_credentials_without_any_client_authentication_is_401(client: FlaskClient) -> None:
    response = client.post("/token", data={"grant_type": "client_credentials"})
    problem_of(response, 401, "invalid_client")


def test_malformed_basic_is_invalid_client(client: FlaskClient) -> None:
    response = client.post(
        "/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic !!!not-base64"},
    )
    problem_of(response, 401, "invalid_client")


def test_two_client_authentication_methods_are_invalid_request(
    app: APIFlask, client: FlaskClient
) -> None:
    client_id, secret = make_client(app)
    response = client.post(
        "/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        headers=basic(client_id, secret),
    )
    problem_of(response, 400, "invalid_request")


def test_client_secret_is_stored_argon2id_hashed(app: APIFlask, session: Session) -> None:
    from auth.models import OAuthClient

    client_id, secret = make_client(app)
    stored = session.get(OAuthClient, client_id)
    assert stored is not None
    assert stored.secret_hash.startswith("$argon2id$")
    assert secret not in stored.secret_hash
    assert parts(app).passwords.verify(stored.secret_hash, secret)
