"""Users test fixtures: an app per test inside a rolled-back transaction, on each backend."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from typing import Any

import pytest
from sqlalchemy.orm import Session

from chassis.registry import ServiceSpec
from chassis.testing import TokenMinter
from users.models import Address, Profile
from users.service import SERVICE

_sequence = itertools.count(1)


@pytest.fixture(scope="session")
def service_spec() -> ServiceSpec:
    """The service under test; chassis.testing builds its app, client and session."""
    return SERVICE


@pytest.fixture
def service_token(token_minter: TokenMinter) -> dict[str, str]:
    """Authorization header of auth's client, which may write profiles."""
    return token_minter.auth("client:auth", scopes=("users:write",))


def user_auth(minter: TokenMinter, profile: Profile | str, *roles: str) -> dict[str, str]:
    """Authorization header of a user (a customer unless roles are given)."""
    subject = profile if isinstance(profile, str) else profile.id
    return minter.auth(subject, roles=roles or ("customer",))


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
