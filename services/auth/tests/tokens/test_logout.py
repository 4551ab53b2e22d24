"""POST /logout: the refresh family ends and the access token fails every verifier at once."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
import redis
from apiflask import APIFlask
from flask.testing import FlaskClient

from auth.keys.service import public_pem
from chassis.auth import TokenVerifier
from chassis.errors import ServiceUnavailable, Unauthorized
from chassis.revocation import revocation_list
from chassis.testing import PrivateRedis, TokenMinter

from ..conftest import AppFactory, log_in, make_account, problem_of


def chassis_verifier(
    client: FlaskClient, token: str, redis_url: str | None, data_dir: Path
) -> TokenVerifier:
    """The verifier another service would use: auth's public key, the shared revocations."""
    jwks = client.get("/.well-known/jwks.json").get_json()
    kid = jwt.get_unverified_header(token)["kid"]
    (jwk,) = [key for key in jwks["keys"] if key["kid"] == kid]
    return TokenVerifier(
        issuer="bazaar-auth",
        audience="bazaar",
        public_key=public_pem(jwk),
        revocations=revocation_list(redis_url, data_dir),
    )


def bearer(token: str) -> dict[str, str]:
    """An Authorization header."""
    return {"Authorization": f"Bearer {token}"}


def _logout_revokes_everywhere(app: APIFlask, redis_url: str | None, data_dir: Path) -> None:
    client = app.test_client()
    make_account(app, email="ann@example.com")
    tokens = log_in(client, "ann@example.com").get_json()
    verifier = chassis_verifier(client, tokens["access_token"], redis_url, data_dir)
    assert verifier.verify(tokens["access_token"]).subject

    response = client.post(
        "/logout",
        json={"refresh_token": tokens["refresh_token"]},
        headers=bearer(tokens["access_token"]),
    )
    logged_out = time.monotonic()

    assert response.status_code == 204, response.get_data(as_text=True)
    with pytest.raises(Unauthorized, match="revoked"):
        verifier.verify(tokens["access_token"])
    assert time.monotonic() - logged_out < 1.0
    problem_of(
        client.post(
            "/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        ),
        400,
        "invalid_grant",
    )
    problem_of(client.post("/logout", headers=bearer(tokens["access_token"])), 401)


def test_logout_revokes_the_access_token_in_the_sqlite_list(app: APIFlask, tmp_path: Path) -> None:
    _logout_revokes_everywhere(app, None, tmp_path)


def test_logout_revokes_the_access_token_in_redis(
    make_app: AppFactory, redis_url: str, tmp_path: Path
) -> None:
    _logout_revokes_everywhere(make_app(redis_url=redis_url), redis_url, tmp_path)


def test_logout_clears_the_cookie_and_takes_the_refresh_token_from_it(
    app: APIFlask, client: FlaskClient
) -> None:
    make_account(app, email="ann@example.com")
    tokens = log_in(client, "ann@example.com").get_json()
    client.set_cookie("bazaar_refresh", tokens["refresh_token"], path="/")

    response = client.post("/logout", headers=bearer(tokens["access_token"]))

    assert response.status_code == 204
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("bazaar_refresh=;")
    assert "Path=/api/auth" in cookie and "Max-Age=0" in cookie
    refreshed = client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    problem_of(refreshed, 400, "invalid_grant")


def test_logout_does_not_end_someone_elses_family(app: APIFlask, client: FlaskClient) -> None:
    make_account(app, email="ann@example.com")
    make_account(app, email="bob@example.com")
    ann = log_in(client, "ann@example.com").get_json()
    bob = log_in(client, "bob@example.com").get_json()

    client.post(
        "/logout", json={"refresh_token": bob["refresh_token"]}, headers=bearer(ann["access_token"])
    )

    again = client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": bob["refresh_token"]}
    )
    assert again.status_code == 200


def test_logout_needs_a_bearer_token(client: FlaskClient) -> None:
    problem_of(client.post("/logout"), 401)


def test_logout_refuses_a_token_signed_by_another_key(
    client: FlaskClient, token_minter: TokenMinter
) -> None:
    response = client.post("/logout", headers=token_minter.auth("user-1"))
    assert problem_of(response, 401)["detail"] == "The token's signing key is unknown."


def test_logout_refuses_garbage(client: FlaskClient) -> None:
    problem_of(client.post("/logout", headers=bearer("not.a.token")), 401)


def test_a_logout_survives_redis_losing_its_data(
    make_fresh_app: AppFactory, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    app = make_fresh_app(redis_url=private_redis.url)
    client = app.test_client()
    make_account(app, email="ann@example.com")
    tokens = log_in(client, "ann@example.com").get_json()
    verifier = chassis_verifier(client, tokens["access_token"], private_redis.url, tmp_path)
    assert client.post("/logout", headers=bearer(tokens["access_token"])).status_code == 204

    redis.Redis.from_url(private_redis.url).flushall()  # the private server, never the shared one

    # Another service asking the empty Redis is told "unknown" (503), never "not revoked"...
    with pytest.raises((ServiceUnavailable, Unauthorized)):
        verifier.verify(tokens["access_token"])
    # ...and auth puts the list back from its database within a couple of seconds.
    deadline = time.monotonic() + 3
    while True:
        try:
            verifier.verify(tokens["access_token"])
        except Unauthorized as refused:
            assert "revoked" in refused.detail
            break
        except ServiceUnavailable:
            assert time.monotonic() < deadline, "the revocation list was never refilled"
            time.sleep(0.05)
    problem_of(client.post("/logout", headers=bearer(tokens["access_token"])), 401)


def test_auth_itself_refills_an_emptied_list_before_it_answers(
    make_fresh_app: AppFactory, private_redis: PrivateRedis
) -> None:
    app = make_fresh_app(redis_url=private_redis.url)
    client = app.test_client()
    make_account(app, email="ann@example.com")
    tokens = log_in(client, "ann@example.com").get_json()
    assert client.post("/logout", headers=bearer(tokens["access_token"])).status_code == 204
    redis.Redis.from_url(private_redis.url).flushall()

    again = client.post("/logout", headers=bearer(tokens["access_token"]))

    assert problem_of(again, 401)["detail"] == "The token has been revoked."
