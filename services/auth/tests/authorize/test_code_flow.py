"""The authorization code flow with PKCE: the pages, the codes, and every way to misuse them."""

from __future__ import annotations

import datetime as dt

import jwt
import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from auth.models import AuthorizationCode, RefreshFamily
from auth.tokens.service import token_hash

from ..conftest import PASSWORD, AppFactory, make_account, make_client, problem_of, unique_email
from ..users_standin import UsersStandIn
from .flow import STOREFRONT_REDIRECT, Flow, hidden_fields, query_of

THIRD_PARTY = "https://app.example.com/oauth/callback"


@pytest.fixture
def email(app: APIFlask) -> str:
    """A customer account's email (its password is PASSWORD)."""
    return make_account(app).email


def test_the_sign_in_page_is_accessible_and_locked_down(client: FlaskClient) -> None:
    page = Flow().open(client)

    assert page.status_code == 200
    assert page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    assert '<html lang="en">' in text
    assert '<label for="email">Email</label>' in text
    assert '<label for="password">Password</label>' in text
    assert 'autocomplete="current-password"' in text
    assert "<script" not in text
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "form-action 'self' http://127.0.0.1:8000" in policy
    assert page.headers["Cache-Control"] == "no-store"
    assert set(hidden_fields(page)) == {"csrf_token", "request"}


def test_a_storefront_sign_in_gives_tokens_and_an_id_token_but_no_refresh_token_in_json(
    app: APIFlask, client: FlaskClient, email: str
) -> None:
    flow = Flow()
    code = flow.code(client, email, PASSWORD)

    answer = flow.redeem(client, code)

    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.get_json()
    assert "refresh_token" not in body
    assert body["token_type"] == "Bearer" and body["scope"] == "openid email"
    cookie = client.get_cookie("bazaar_refresh", path="/api/auth")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Strict"
    assert jwt.get_unverified_header(body["id_token"])["alg"] == "RS256"
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "EdDSA"
    claims = jwt.decode(body["id_token"], options={"verify_signature": False})
    assert claims["aud"] == "storefront"
    assert claims["iss"] == "http://127.0.0.1:8000/api/auth"
    assert claims["nonce"] == flow.nonce and claims["email"] == email


def test_the_redirect_names_the_issuer(client: FlaskClient, email: str) -> None:
    answer = Flow().log_in(client, email, PASSWORD)

    assert query_of(answer.headers["Location"])["iss"] == "http://127.0.0.1:8000/api/auth"


def test_a_refresh_from_the_cookie_answers_no_refresh_token_in_json(
    client: FlaskClient, email: str
) -> None:
    flow = Flow()
    flow.redeem(client, flow.code(client, email, PASSWORD))
    before = client.get_cookie("bazaar_refresh", path="/api/auth")
    assert before is not None
    client.set_cookie("bazaar_refresh", before.value, path="/")

    answer = client.post("/token", data={"grant_type": "refresh_token"})

    assert answer.status_code == 200
    assert "refresh_token" not in answer.get_json()


def test_registration_through_the_page_signs_the_new_customer_in(
    client: FlaskClient, users: UsersStandIn
) -> None:
    flow = Flow()
    page = flow.open(client, prompt="create")
    assert "Create an account" in page.get_data(as_text=True)
    email = unique_email()

    answer = client.post(
        "/authorize",
        data={
            **hidden_fields(page),
            "action": "register",
            "display_name": "Page Person",
            "email": email,
            "password": PASSWORD,
        },
    )

    assert answer.status_code == 303, answer.get_data(as_text=True)
    code = query_of(answer.headers["Location"])["code"]
    assert flow.redeem(client, code).status_code == 200
    assert any(p["email"] == email for p in users.profiles.values())


def test_a_weak_password_at_registration_shows_the_form_again(client: FlaskClient) -> None:
    page = Flow().open(client, prompt="create")

    answer = client.post(
        "/authorize",
        data={
            **hidden_fields(page),
            "action": "register",
            "display_name": "Weak",
            "email": unique_email(),
            "password": "password1234",
        },
    )

    assert answer.status_code == 200  # the form again (the gateway passes only problem errors)
    assert 'role="alert"' in answer.get_data(as_text=True)
    assert "Choose another password" in answer.get_data(as_text=True)


def test_a_wrong_password_shows_the_form_with_an_error(client: FlaskClient, email: str) -> None:
    answer = Flow().log_in(client, email, "not the password at all")

    assert answer.status_code == 200 and "Location" not in answer.headers
    text = answer.get_data(as_text=True)
    assert "The email or password is wrong." in text
    assert f'value="{email}"' in text


def test_sign_ins_on_the_page_are_throttled_like_the_token_endpoint(
    make_app: AppFactory,
) -> None:
    app = make_app(throttle_after=2, throttle_base_delay_seconds=60.0)  # no race with the clock
    client = app.test_client()
    email = make_account(app).email
    for _ in range(2):
        assert "Location" not in Flow().log_in(client, email, "wrong wrong wrong").headers

    answer = Flow().log_in(client, email, PASSWORD)  # the right password, while blocked

    assert "Location" not in answer.headers
    assert "Too many failed attempts" in answer.get_data(as_text=True)
    assert int(answer.headers["Retry-After"]) >= 1


def test_a_registration_users_refused_leaves_no_account(
    client: FlaskClient, users: UsersStandIn, session: Session
) -> None:
    from auth.credentials.service import get_by_email

    users.available = False
    page = Flow().open(client, prompt="create")
    email = unique_email()

    answer = client.post(
        "/authorize",
        data={
            **hidden_fields(page),
            "action": "register",
            "display_name": "Nobody",
            "email": email,
            "password": PASSWORD,
        },
    )

    assert "Registration is unavailable" in answer.get_data(as_text=True)
    assert get_by_email(session=session, email=email) is None


def test_a_post_without_the_csrf_token_is_refused(client: FlaskClient, email: str) -> None:
    page = Flow().open(client)
    form = {**hidden_fields(page), "action": "login", "email": email, "password": PASSWORD}

    for token in ("", "forged"):
        answer = client.post("/authorize", data={**form, "csrf_token": token})
        problem_of(answer, 403)


def test_a_tampered_request_field_is_refused(client: FlaskClient, email: str) -> None:
    page = Flow().open(client)
    fields = hidden_fields(page)
    form = {**fields, "request": fields["request"][:-2] + "xx", "action": "login"}

    problem_of(client.post("/authorize", data={**form, "email": email, "password": PASSWORD}), 400)


# -- the authorization request ----------------------------------------------------------


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:8000/auth/callback/",
        "http://127.0.0.1:8000/auth/Callback",
        "http://127.0.0.1:8000/auth/callback?x=1",
        "http://127.0.0.1:8000/auth/callbacks",
        "https://127.0.0.1:8000/auth/callback",
        "http://127.0.0.1:8001/auth/callback",
        "http://evil.example/auth/callback",
        "",
    ],
)
def test_a_redirect_uri_differing_in_any_character_is_refused_without_redirecting(
    client: FlaskClient, redirect_uri: str
) -> None:
    answer = Flow(redirect_uri=redirect_uri).open(client)

    problem_of(answer, 400)
    assert "Location" not in answer.headers


def test_an_unknown_client_is_refused_without_redirecting(client: FlaskClient) -> None:
    answer = Flow(client_id="nobody").open(client)

    problem_of(answer, 400)
    assert "Location" not in answer.headers


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"state": None}, "invalid_request"),
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": "short"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "openid admin"}, "invalid_scope"),
    ],
)
def test_a_bad_request_goes_back_to_the_client_with_an_error(
    client: FlaskClient, changes: dict[str, str | None], error: str
) -> None:
    flow = Flow()

    answer = flow.open(client, **changes)

    assert answer.status_code == 303
    query = query_of(answer.headers["Location"])
    assert answer.headers["Location"].startswith(STOREFRONT_REDIRECT + "?")
    assert query["error"] == error
    assert query.get("state") == (None if "state" in changes else flow.state)
    assert "code" not in query


# -- redeeming the code -----------------------------------------------------------------


def test_a_wrong_pkce_verifier_is_invalid_grant(client: FlaskClient, email: str) -> None:
    flow = Flow()
    code = flow.code(client, email, PASSWORD)

    other = Flow()
    problem_of(flow.redeem(client, code, code_verifier=other.verifier), 400, "invalid_grant")


def test_a_missing_pkce_verifier_is_invalid_request(client: FlaskClient, email: str) -> None:
    flow = Flow()
    code = flow.code(client, email, PASSWORD)

    problem_of(flow.redeem(client, code, code_verifier=None), 400, "invalid_request")


def test_the_challenge_itself_is_no_verifier(client: FlaskClient, email: str) -> None:
    # What `plain` would accept: the verifier equal to the challenge.
    flow = Flow()
    code = flow.code(client, email, PASSWORD)

    problem_of(flow.redeem(client, code, code_verifier=flow.challenge), 400, "invalid_grant")


def test_a_code_works_once_and_its_reuse_revokes_what_it_gave(
    client: FlaskClient, email: str, session: Session
) -> None:
    flow = Flow()
    code = flow.code(client, email, PASSWORD)
    assert flow.redeem(client, code).status_code == 200

    problem_of(flow.redeem(client, code), 400, "invalid_grant")

    row = session.get(AuthorizationCode, token_hash(code))
    assert row is not None and row.family_id is not None
    family = session.get(RefreshFamily, row.family_id)
    assert family is not None and family.revoked_at is not None


def test_a_failed_redemption_uses_the_code_up(client: FlaskClient, email: str) -> None:
    flow = Flow()
    code = flow.code(client, email, PASSWORD)
    problem_of(flow.redeem(client, code, code_verifier=Flow().verifier), 400, "invalid_grant")

    problem_of(flow.redeem(client, code), 400, "invalid_grant")


def test_an_expired_code_is_invalid_grant(
    client: FlaskClient, email: str, session: Session
) -> None:
    flow = Flow()
    code = flow.code(client, email, PASSWORD)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    session.execute(
        update(AuthorizationCode)
        .where(AuthorizationCode.code_hash == token_hash(code))
        .values(expires_at=past)
    )
    session.flush()

    problem_of(flow.redeem(client, code), 400, "invalid_grant")


def test_codes_expire_within_a_minute(client: FlaskClient, email: str, session: Session) -> None:
    flow = Flow()
    code = flow.code(client, email, PASSWORD)

    row = session.get(AuthorizationCode, token_hash(code))
    assert row is not None
    assert row.expires_at - row.auth_time <= dt.timedelta(seconds=61)


def test_a_code_ttl_over_60_seconds_is_refused(make_app: AppFactory) -> None:
    with pytest.raises(ValueError, match="authorization_code_ttl_seconds"):
        make_app(authorization_code_ttl_seconds=61)


@pytest.mark.parametrize(
    "redirect_uri", [STOREFRONT_REDIRECT + "/", "http://127.0.0.1:8000/auth/callbacK", None]
)
def test_the_token_call_needs_the_very_same_redirect_uri(
    client: FlaskClient, email: str, redirect_uri: str | None
) -> None:
    flow = Flow()
    code = flow.code(client, email, PASSWORD)

    answer = flow.redeem(client, code, redirect_uri=redirect_uri)

    problem_of(answer, 400, "invalid_request" if redirect_uri is None else "invalid_grant")


def test_a_code_issued_to_another_client_is_invalid_grant(
    app: APIFlask, client: FlaskClient, email: str
) -> None:
    client_id, secret = make_client(app, redirect_uris=[THIRD_PARTY])
    flow = Flow()
    code = flow.code(client, email, PASSWORD)

    answer = client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": STOREFRONT_REDIRECT,
            "code_verifier": flow.verifier,
        },
        auth=(client_id, secret),
    )

    problem_of(answer, 400, "invalid_grant")


def test_a_confidential_client_cannot_redeem_as_a_public_one(
    app: APIFlask, client: FlaskClient, email: str
) -> None:
    client_id, _ = make_client(app, redirect_uris=[THIRD_PARTY])
    flow = Flow(client_id=client_id, redirect_uri=THIRD_PARTY)
    code = query_of(_consent(client, flow, email, "allow").headers["Location"])["code"]

    problem_of(flow.redeem(client, code), 401, "invalid_client")


def test_a_garbage_code_is_invalid_grant(client: FlaskClient) -> None:
    problem_of(Flow().redeem(client, "x" * 43), 400, "invalid_grant")


# -- a third-party client ---------------------------------------------------------------


def _consent(client: FlaskClient, flow: Flow, email: str, action: str) -> object:
    page = flow.log_in(client, email, PASSWORD)
    assert page.status_code == 200, page.get_data(as_text=True)
    assert "asks to know who you are" in page.get_data(as_text=True)
    return client.post("/authorize", data={**hidden_fields(page), "action": action})


def test_a_third_party_client_gets_a_code_after_consent_and_its_tokens_with_its_secret(
    app: APIFlask, client: FlaskClient, email: str
) -> None:
    client_id, secret = make_client(app, redirect_uris=[THIRD_PARTY])
    flow = Flow(client_id=client_id, redirect_uri=THIRD_PARTY)

    allowed = _consent(client, flow, email, "allow")

    assert allowed.status_code == 303  # type: ignore[attr-defined]
    code = query_of(allowed.headers["Location"])["code"]  # type: ignore[attr-defined]
    answer = client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": THIRD_PARTY,
            "code_verifier": flow.verifier,
        },
        auth=(client_id, secret),
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["refresh_token"]  # a server-side client keeps its own
    claims = jwt.decode(answer.get_json()["id_token"], options={"verify_signature": False})
    assert claims["aud"] == client_id
    assert jwt.get_unverified_header(answer.get_json()["id_token"])["alg"] == "RS256"


def test_a_client_registered_for_eddsa_id_tokens_gets_them(
    app: APIFlask, client: FlaskClient, email: str
) -> None:
    client_id, secret = make_client(app, redirect_uris=[THIRD_PARTY], id_token_alg="EdDSA")
    flow = Flow(client_id=client_id, redirect_uri=THIRD_PARTY)
    code = query_of(_consent(client, flow, email, "allow").headers["Location"])["code"]  # type: ignore[attr-defined]

    answer = client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": THIRD_PARTY,
            "code_verifier": flow.verifier,
        },
        auth=(client_id, secret),
    )

    assert answer.status_code == 200, answer.get_data(as_text=True)
    header = jwt.get_unverified_header(answer.get_json()["id_token"])
    assert header["alg"] == "EdDSA"
    published = {key["kid"]: key for key in client.get("/.well-known/jwks.json").get_json()["keys"]}
    assert published[header["kid"]]["kty"] == "OKP"


def test_a_denied_consent_tells_the_client_access_denied(
    app: APIFlask, client: FlaskClient, email: str
) -> None:
    client_id, _ = make_client(app, redirect_uris=[THIRD_PARTY])
    flow = Flow(client_id=client_id, redirect_uri=THIRD_PARTY)

    denied = _consent(client, flow, email, "deny")

    query = query_of(denied.headers["Location"])  # type: ignore[attr-defined]
    assert query["error"] == "access_denied" and query["state"] == flow.state


def test_a_client_without_redirect_uris_has_no_code_flow(
    app: APIFlask, client: FlaskClient
) -> None:
    client_id, _ = make_client(app)

    problem_of(Flow(client_id=client_id, redirect_uri=THIRD_PARTY).open(client), 400)


@pytest.mark.parametrize(
    "uri", ["http://app.example.com/cb", "https://app.example.com/cb#x", "https://*.example.com/"]
)
def test_unsafe_redirect_uris_cannot_be_registered(app: APIFlask, uri: str) -> None:
    from chassis.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        make_client(app, redirect_uris=[uri])
