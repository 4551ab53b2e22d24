"""POST /register: credentials here, the profile in users (a stand-in), or neither."""

from __future__ import annotations

import re

import jwt
import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from auth.models import Credential
from chassis.testing import TokenMinter

from ..conftest import AppFactory, log_in, problem_of, unique_email
from ..users_standin import UsersStandIn

GOOD = "correct horse battery staple"


def register(client: FlaskClient, email: str, password: str = GOOD, name: str = "Ann") -> object:
    """POST /register."""
    return client.post(
        "/register", json={"email": email, "password": password, "display_name": name}
    )


def credentials(session: Session) -> int:
    """How many credentials are stored."""
    return int(session.scalar(select(func.count()).select_from(Credential)) or 0)


def test_register_creates_credentials_and_the_profile(
    client: FlaskClient, session: Session, users: UsersStandIn
) -> None:
    response = client.post(
        "/register",
        json={"email": "  Ann@Example.COM ", "password": GOOD, "display_name": "Ann"},
    )

    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body == {"id": body["id"], "email": "ann@example.com", "display_name": "Ann"}
    assert users.profiles[body["id"]] == {
        "id": body["id"],
        "email": "ann@example.com",
        "display_name": "Ann",
        "role": "customer",
    }
    stored = session.get(Credential, body["id"])
    assert stored is not None and stored.roles == ["customer"]
    assert stored.password_hash.startswith("$argon2id$")
    assert log_in(client, "ann@example.com", GOOD).status_code == 200


def test_register_calls_users_with_auths_own_service_token(
    app: APIFlask, client: FlaskClient, users: UsersStandIn
) -> None:
    assert register(client, unique_email()).status_code == 201  # type: ignore[attr-defined]

    scheme, _, token = users.authorizations[-1].partition(" ")
    jwks = client.get("/.well-known/jwks.json").get_json()
    key = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(token)["kid"]]
    claims = jwt.decode(token, key.key, algorithms=["EdDSA"], audience="bazaar")
    assert scheme == "Bearer"
    assert claims["sub"] == "client:auth"
    assert claims["scope"] == "users:write"
    assert claims["roles"] == []


@pytest.mark.parametrize("variant", ["dup@example.com", "DUP@Example.com", "  dup@example.com\t"])
def test_duplicate_email_is_409_whatever_the_case_or_spaces(
    client: FlaskClient, session: Session, variant: str
) -> None:
    assert register(client, "dup@example.com").status_code == 201  # type: ignore[attr-defined]

    problem = problem_of(register(client, variant), 409)  # type: ignore[arg-type]

    assert problem["type"] == "/problems/duplicate-email"
    assert credentials(session) == 1


@pytest.mark.parametrize(
    ("password", "problem_type"),
    [
        ("too short", "/problems/validation-error"),
        ("x" * 129, "/problems/validation-error"),
        ("password1234", "/problems/weak-password"),
        ("Qwertyuiop123", "/problems/weak-password"),
        ("firstname.lastname", "/problems/weak-password"),
    ],
)
def test_weak_passwords_are_422_and_store_nothing(
    client: FlaskClient, session: Session, users: UsersStandIn, password: str, problem_type: str
) -> None:
    response = register(client, "firstname.lastname@example.com", password)

    assert problem_of(response, 422)["type"] == problem_type  # type: ignore[arg-type]
    assert credentials(session) == 0
    assert users.profiles == {}


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": GOOD, "display_name": "Ann"},
        {"email": "ann@example.com", "password": GOOD},
        {"email": "ann@example.com", "password": GOOD, "display_name": ""},
        {"email": "ann@example.com", "password": GOOD, "display_name": "A", "role": "admin"},
    ],
)
def test_malformed_registrations_are_422(client: FlaskClient, body: dict[str, str]) -> None:
    problem_of(client.post("/register", json=body), 422)


def test_users_answering_503_is_503_and_no_credentials_are_kept(
    client: FlaskClient, session: Session, users: UsersStandIn
) -> None:
    users.available = False

    problem = problem_of(register(client, "ann@example.com"), 503)  # type: ignore[arg-type]

    assert problem["type"] == "/problems/users-unavailable"
    assert credentials(session) == 0
    users.available = True
    assert register(client, "ann@example.com").status_code == 201  # type: ignore[attr-defined]


def test_users_unreachable_is_503_and_no_credentials_are_kept(
    make_app: AppFactory, closed_port: int
) -> None:
    app = make_app(users_url=f"http://127.0.0.1:{closed_port}")
    client = app.test_client()

    problem_of(register(client, "ann@example.com"), 503)  # type: ignore[arg-type]

    session = app.extensions["bazaar"].db.session_factory()
    assert credentials(session) == 0
    session.close()


def test_users_too_slow_is_503_and_no_credentials_are_kept(
    make_app: AppFactory, users: UsersStandIn
) -> None:
    app = make_app(users_timeout_seconds=0.2)
    users.delay = 0.5

    problem_of(register(app.test_client(), "ann@example.com"), 503)  # type: ignore[arg-type]

    session = app.extensions["bazaar"].db.session_factory()
    assert credentials(session) == 0
    session.close()


def test_stored_hash_uses_production_argon2id_parameters(
    make_app: AppFactory, users: UsersStandIn
) -> None:
    app = make_app(argon2_memory_kib=19456, argon2_time_cost=2)
    response = register(app.test_client(), "ann@example.com")
    assert response.status_code == 201  # type: ignore[attr-defined]

    session = app.extensions["bazaar"].db.session_factory()
    stored = session.scalar(select(Credential.password_hash))
    session.close()
    assert stored is not None
    assert re.match(r"^\$argon2id\$v=19\$m=19456,t=2,p=1\$", stored)


def test_a_token_from_another_issuer_key_does_not_matter_to_register(
    client: FlaskClient, token_minter: TokenMinter
) -> None:
    # Registration is anonymous: a stray Authorization header changes nothing.
    response = client.post(
        "/register",
        json={"email": unique_email(), "password": GOOD, "display_name": "Ann"},
        headers=token_minter.auth("someone"),
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("users_status", "status", "problem_type"),
    [
        (409, 409, "/problems/duplicate-email"),
        (422, 422, "/problems/profile-refused"),
        (500, 503, "/problems/users-unavailable"),
        (403, 503, "/problems/users-unavailable"),
    ],
)
def test_users_refusing_the_profile_stores_nothing(
    client: FlaskClient,
    session: Session,
    users: UsersStandIn,
    users_status: int,
    status: int,
    problem_type: str,
) -> None:
    users.refuse_with = users_status

    problem = problem_of(register(client, "ann@example.com"), status)  # type: ignore[arg-type]

    assert problem["type"] == problem_type
    assert credentials(session) == 0
