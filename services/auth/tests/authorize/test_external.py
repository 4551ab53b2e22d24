"""Signing in with an external OpenID Connect provider (a local stand-in for one)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from auth.models import Credential, ExternalIdentity

from ..conftest import PASSWORD, AppFactory, make_account, problem_of
from ..oidc_standin import CLIENT_ID, CLIENT_SECRET, OidcStandIn
from ..users_standin import UsersStandIn
from .flow import STOREFRONT_REDIRECT, Flow, hidden_fields, query_of

CALLBACK = "http://127.0.0.1:8000/api/auth/external/standin/callback"


@pytest.fixture(scope="module")
def provider_server() -> Iterator[OidcStandIn]:
    """One stand-in provider for the module."""
    standin = OidcStandIn()
    yield standin
    standin.close()


@pytest.fixture
def provider(provider_server: OidcStandIn) -> OidcStandIn:
    """The stand-in, well-behaved, with its default user."""
    provider_server.reset()
    return provider_server


@pytest.fixture
def app(make_app: AppFactory, provider: OidcStandIn) -> APIFlask:
    """Auth with the stand-in configured as provider `standin`."""
    providers = {
        "standin": {
            "issuer": provider.url,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "display_name": "Stand-in ID",
        }
    }
    return make_app(oidc_providers=json.loads(json.dumps(providers)))


def at_provider(client: FlaskClient, flow: Flow) -> str:
    """Choose the provider on the sign-in page; the provider's answer (our callback URL)."""
    page = flow.open(client)
    assert "Continue with Stand-in ID" in page.get_data(as_text=True)
    started = client.post("/authorize", data={**hidden_fields(page), "provider": "standin"})
    assert started.status_code == 303, started.get_data(as_text=True)
    back = httpx.get(started.headers["Location"])  # the browser at the provider
    assert back.status_code == 302
    location = back.headers["Location"]
    assert location.startswith(CALLBACK + "?")
    return location


def come_back(client: FlaskClient, location: str) -> object:
    """The browser's return to auth's callback (auth is mounted at /api/auth)."""
    parts = urlsplit(location)
    return client.get(parts.path.removeprefix("/api/auth"), query_string=parts.query)


def signed_in_user(client: FlaskClient, flow: Flow, answer: object) -> str:
    """The user id the code of `answer` redeems to."""
    location = answer.headers["Location"]  # type: ignore[attr-defined]
    assert location.startswith(STOREFRONT_REDIRECT + "?")
    tokens = flow.redeem(client, query_of(location)["code"])
    assert tokens.status_code == 200, tokens.get_data(as_text=True)
    import jwt

    return str(
        jwt.decode(tokens.get_json()["id_token"], options={"verify_signature": False})["sub"]
    )


def test_a_first_sign_in_creates_the_account_and_links_it(
    client: FlaskClient, provider: OidcStandIn, users: UsersStandIn, session: Session
) -> None:
    flow = Flow()

    answer = come_back(client, at_provider(client, flow))

    assert answer.status_code == 303, answer.get_data(as_text=True)  # type: ignore[attr-defined]
    user_id = signed_in_user(client, flow, answer)
    credential = session.get(Credential, user_id)
    assert credential is not None and credential.email == provider.user.email
    assert credential.password_hash is None  # no password to guess
    assert users.profiles[user_id]["display_name"] == "Ext Person"
    link = session.scalar(select(ExternalIdentity).where(ExternalIdentity.user_id == user_id))
    assert link is not None and (link.provider, link.subject) == ("standin", "standin-user-1")


def test_the_next_sign_in_finds_the_same_account(
    client: FlaskClient, provider: OidcStandIn
) -> None:
    first, second = Flow(), Flow()
    one = signed_in_user(client, first, come_back(client, at_provider(client, first)))

    provider.user.email = "changed.address@example.com"  # the subject is what counts
    two = signed_in_user(client, second, come_back(client, at_provider(client, second)))

    assert one == two


def test_an_existing_account_is_linked_by_its_verified_email(
    app: APIFlask, client: FlaskClient, provider: OidcStandIn
) -> None:
    account = make_account(app, email=provider.user.email)
    flow = Flow()

    user_id = signed_in_user(client, flow, come_back(client, at_provider(client, flow)))

    assert user_id == account.id


def test_an_account_made_by_a_provider_cannot_sign_in_with_a_password(
    client: FlaskClient, provider: OidcStandIn
) -> None:
    flow = Flow()
    signed_in_user(client, flow, come_back(client, at_provider(client, flow)))

    answer = Flow().log_in(client, provider.user.email, PASSWORD)

    assert "The email or password is wrong." in answer.get_data(as_text=True)


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        ("forged", "did not verify"),
        ("audience", "did not verify"),
        ("issuer", "did not verify"),
        ("unverified", "has not verified"),
    ],
)
def test_an_untrustworthy_id_token_signs_nobody_in(
    client: FlaskClient, provider: OidcStandIn, session: Session, spoil: str, message: str
) -> None:
    if spoil == "forged":
        provider.knobs.forged = True
    elif spoil == "audience":
        provider.knobs.audience = "another-client"
    elif spoil == "issuer":
        provider.knobs.issuer = "https://evil.example"
    else:
        provider.user.email_verified = False
    flow = Flow()

    answer = come_back(client, at_provider(client, flow))

    assert "Location" not in answer.headers  # type: ignore[attr-defined]
    assert message in answer.get_data(as_text=True)  # type: ignore[attr-defined]
    assert session.scalar(select(Credential).where(Credential.email == provider.user.email)) is None


def test_an_id_token_with_the_nonce_of_an_earlier_sign_in_is_refused(
    client: FlaskClient, provider: OidcStandIn
) -> None:
    earlier = Flow()
    signed_in_user(client, earlier, come_back(client, at_provider(client, earlier)))
    provider.knobs.nonce = provider.nonces[-1]  # the earlier sign-in's nonce, replayed

    answer = come_back(client, at_provider(client, Flow()))

    assert "Location" not in answer.headers  # type: ignore[attr-defined]
    assert "belongs to another sign-in" in answer.get_data(as_text=True)  # type: ignore[attr-defined]


def test_a_callback_works_once(client: FlaskClient, provider: OidcStandIn) -> None:
    flow = Flow()
    location = at_provider(client, flow)
    assert come_back(client, location).status_code == 303  # type: ignore[attr-defined]

    problem_of(come_back(client, location), 400)  # type: ignore[arg-type]


def test_a_state_nobody_started_is_refused(client: FlaskClient) -> None:
    problem_of(client.get("/external/standin/callback?code=x&state=forged"), 400)


def test_a_provider_that_cannot_be_reached_is_a_clear_error(
    make_app: AppFactory, closed_port: int
) -> None:
    providers = {
        "down": {
            "issuer": f"http://127.0.0.1:{closed_port}",
            "client_id": "x",
            "client_secret": "y",
            "display_name": "Down ID",
        }
    }
    client = make_app(oidc_providers=providers).test_client()
    page = Flow().open(client)

    answer = client.post("/authorize", data={**hidden_fields(page), "provider": "down"})

    problem_of(answer, 502)
