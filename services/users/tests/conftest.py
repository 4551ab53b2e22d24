"""Users test fixtures: an app per test inside a rolled-back transaction, on each backend."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from chassis import migrations
from chassis.testing import TokenMinter, rolled_back
from users import create_app
from users.models import Address, Profile
from users.service import SERVICE
from users.settings import UsersSettings

PROBLEM = "application/problem+json"
_sequence = itertools.count(1)


@pytest.fixture(scope="session")
def migrated_url(database_url: str) -> str:
    """The session's database, migrated to head once."""
    assert SERVICE.migrations is not None
    migrations.upgrade(SERVICE.migrations, database_url)
    return database_url


@pytest.fixture
def settings(migrated_url: str, token_minter: TokenMinter) -> UsersSettings:
    """Settings pointing at the test database and trusting the test token minter."""
    return UsersSettings(
        env="test", database_url=migrated_url, jwt_public_key=token_minter.public_pem
    )


@pytest.fixture
def app(settings: UsersSettings) -> Iterator[Any]:
    """The users app; everything it writes is rolled back after the test."""
    app = create_app(settings)
    with rolled_back(app):
        yield app


@pytest.fixture
def client(app: Any) -> FlaskClient:
    """A test client for the app."""
    return app.test_client()


@pytest.fixture
def session(app: Any) -> Iterator[Session]:
    """A session on the test transaction, for factories and checks."""
    session = app.extensions["bazaar"].db.session_factory()
    yield session
    session.close()


@pytest.fixture
def service_token(token_minter: TokenMinter) -> dict[str, str]:
    """Authorization header of auth's client, which may write profiles."""
    return token_minter.auth("client:auth", scopes=("users:write",))


def user_auth(minter: TokenMinter, profile: Profile | str, *roles: str) -> dict[str, str]:
    """Authorization header of a user (a customer unless roles are given)."""
    subject = profile if isinstance(profile, str) else profile.id
    return minter.auth(subject, roles=roles or ("customer",))


def problem_of(response: Any, status: int, type_suffix: str | None = None) -> dict[str, Any]:
    """Assert a problem+json response and return its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body: dict[str, Any] = response.get_json()
    assert body["status"] == status
    assert body["type"].startswith("/problems/")
    if type_suffix:
        assert body["type"] == "/problems/" + type_suffix
    return body


def make_profile(session: Session, **overrides: Any) -> Profile:
    """Store a profile; each one is a minute newer than the one before."""
    n = next(_sequence)
    fields: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "email": f"user{n}@bazaar.test",
        "display_name": f"User {n}",
        "role": "customer",
        "created_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=n),
        **overrides,
    }
    profile = Profile(**fields)
    session.add(profile)
    session.commit()
    return profile


def make_address(session: Session, owner: Profile, **overrides: Any) -> Address:
    """Store an address of `owner`."""
    n = next(_sequence)
    fields: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "name": f"Recipient {n}",
        "line1": f"{n} Market Street",
        "city": "Lisbon",
        "postal_code": "1100-148",
        "country": "PT",
        "is_default": False,
        "created_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=n),
        **overrides,
    }
    address = Address(user_id=owner.id, **fields)
    session.add(address)
    session.commit()
    return address
