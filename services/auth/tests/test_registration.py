"""Registration across auth and users: when auth's commit fails, the profile is removed."""

from __future__ import annotations

import pytest
from apiflask import APIFlask
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError

from auth.credentials.service import DuplicateEmail
from auth.models import Credential
from auth.registration import register
from chassis.errors import ServiceUnavailable
from chassis.testing import watch_transactions

from .conftest import PASSWORD, parts
from .users_standin import UsersStandIn


def _register_with_failing_commit(app: APIFlask, error: Exception) -> None:
    components = parts(app)
    session = app.extensions["bazaar"].db.session_factory()

    def failing_commit() -> None:
        raise error

    session.commit = failing_commit  # type: ignore[method-assign]
    try:
        register(
            session=session,
            passwords=components.passwords,
            profiles=components.profiles,
            email="ann@example.com",
            password=PASSWORD,
            display_name="Ann",
        )
    finally:
        assert session.scalar(select(func.count()).select_from(Credential)) == 0
        session.close()


def test_failed_commit_after_the_profile_was_created_deletes_the_profile(
    app: APIFlask, users: UsersStandIn
) -> None:
    with pytest.raises(ServiceUnavailable):
        _register_with_failing_commit(app, OperationalError("COMMIT", {}, Exception("disk")))

    assert len(users.deleted) == 1
    assert users.profiles == {}


def test_concurrent_duplicate_found_at_commit_is_409_and_the_profile_is_removed(
    app: APIFlask, users: UsersStandIn
) -> None:
    with pytest.raises(DuplicateEmail):
        _register_with_failing_commit(app, IntegrityError("COMMIT", {}, Exception("unique")))

    assert len(users.deleted) == 1
    assert users.profiles == {}


def test_compensation_that_cannot_reach_users_is_reported_not_raised(
    app: APIFlask, users: UsersStandIn
) -> None:
    users.available = False

    assert parts(app).profiles.delete("0b7c2f5e-0000-4000-8000-000000000000") is False


def test_users_is_called_while_no_transaction_is_open(app: APIFlask, users: UsersStandIn) -> None:
    held: list[bool] = []
    with watch_transactions() as watch:
        users.on_request = lambda: held.append(watch.open)
        response = app.test_client().post(
            "/register",
            json={"email": "ann@example.com", "password": PASSWORD, "display_name": "Ann"},
        )
    assert response.status_code == 201, response.get_data(as_text=True)
    assert held == [False]
    assert list(users.profiles) == [response.get_json()["id"]]
