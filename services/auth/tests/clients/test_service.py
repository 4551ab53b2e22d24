"""OAuth clients: names, scopes, duplicates, and secrets checked in constant shape."""

from __future__ import annotations

import pytest
from apiflask import APIFlask

from auth.clients.service import DuplicateClient, authenticate_client, create_client
from auth.oauth_errors import InvalidClient
from chassis.errors import ValidationFailed

from ..conftest import make_client, parts


@pytest.mark.parametrize(
    ("client_id", "scopes"),
    [
        ("Orders", ["a"]),
        ("has space", ["a"]),
        ("x" * 65, ["a"]),
        ("auth", ["a"]),  # auth's own tokens say client:auth
        ("orders", []),
        ("orders", ['quote"d']),
    ],
)
def test_bad_names_and_scopes_are_refused(app: APIFlask, client_id: str, scopes: list[str]) -> None:
    components = parts(app)
    with components.db.session() as session, pytest.raises(ValidationFailed):
        create_client(
            session=session, passwords=components.passwords, client_id=client_id, scopes=scopes
        )


def test_a_taken_name_is_refused(app: APIFlask) -> None:
    make_client(app, client_id="orders")
    components = parts(app)
    with components.db.session() as session, pytest.raises(DuplicateClient):
        create_client(
            session=session, passwords=components.passwords, client_id="orders", scopes=["a"]
        )


def test_authenticate_returns_the_client_or_invalid_client(app: APIFlask) -> None:
    client_id, secret = make_client(app, scopes=("b", "a", "b"))
    components = parts(app)
    with components.db.session() as session:
        found = authenticate_client(
            session=session,
            passwords=components.passwords,
            client_id=client_id,
            client_secret=secret,
        )
        assert found.scopes == "b a"
        for wrong_id, wrong_secret in ((client_id, secret + "x"), ("nobody", secret)):
            with pytest.raises(InvalidClient):
                authenticate_client(
                    session=session,
                    passwords=components.passwords,
                    client_id=wrong_id,
                    client_secret=wrong_secret,
                )
