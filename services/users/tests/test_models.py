"""Constraints the database itself enforces, whatever the service code does."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from users.models import Address, Profile

from .conftest import make_address, make_profile


def refused(session: Session, row: Any) -> None:
    """Assert that flushing `row` violates a constraint; the session stays usable."""
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(row)
        session.flush()


def test_the_database_refuses_a_second_default_address(session: Session) -> None:
    ann = make_profile(session)
    make_address(session, ann, is_default=True)
    make_address(session, make_profile(session), is_default=True)
    make_address(session, ann, is_default=False)
    refused(
        session,
        Address(
            id=str(uuid.uuid4()),
            user_id=ann.id,
            name="Ann",
            line1="1 Main St",
            city="Lisbon",
            postal_code="1000-001",
            country="PT",
            is_default=True,
        ),
    )


def test_the_database_refuses_a_duplicate_email_and_an_unknown_role(session: Session) -> None:
    make_profile(session, email="ann@bazaar.test")
    same_email = Profile(id=str(uuid.uuid4()), email="ann@bazaar.test", display_name="Twin")
    refused(session, same_email)
    root = Profile(id=str(uuid.uuid4()), email="root@bazaar.test", display_name="R", role="root")
    refused(session, root)
    assert session.scalar(select(func.count()).select_from(Profile)) == 1
