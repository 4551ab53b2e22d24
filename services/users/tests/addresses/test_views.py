"""The address API: the caller's own addresses only, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from chassis.testing import TokenMinter, problem_of
from users.addresses.service import MAX_ADDRESSES_PER_USER
from users.models import Address, Profile

from ..conftest import make_address, make_profile, user_auth


def new_address(**overrides: Any) -> dict[str, Any]:
    """A valid AddressCreate body."""
    return {
        "label": "Home",
        "name": "Ann Smith",
        "line1": "221B Baker Street",
        "city": "London",
        "postal_code": "NW1 6XE",
        "country": "GB",
        **overrides,
    }


@pytest.fixture
def ann(session: Session) -> Profile:
    """A customer with a profile."""
    return make_profile(session, display_name="Ann")


@pytest.fixture
def as_ann(token_minter: TokenMinter, ann: Profile) -> dict[str, str]:
    """Ann's Authorization header."""
    return user_auth(token_minter, ann)


def defaults(session: Session, owner: Profile) -> list[str]:
    """Ids of the owner's default addresses, as stored."""
    session.expire_all()
    stmt = select(Address.id).where(Address.user_id == owner.id, Address.is_default.is_(True))
    return list(session.scalars(stmt))


def test_create_returns_201_with_location_and_lists_it(
    client: FlaskClient, as_ann: dict[str, str]
) -> None:
    response = client.post("/me/addresses", json=new_address(country="pt"), headers=as_ann)
    assert response.status_code == 201
    created = response.get_json()
    assert created["country"] == "PT"
    assert created["is_default"] is False
    assert created["line2"] is None
    uuid.UUID(created["id"])
    assert response.headers["Location"] == f"/me/addresses/{created['id']}"
    listed = client.get("/me/addresses", headers=as_ann).get_json()
    assert listed == {"items": [created], "next_cursor": None}
    assert client.get(response.headers["Location"], headers=as_ann).get_json() == created


def test_list_holds_only_the_callers_addresses_oldest_first(
    client: FlaskClient, as_ann: dict[str, str], ann: Profile, session: Session
) -> None:
    first, second = make_address(session, ann), make_address(session, ann)
    make_address(session, make_profile(session))
    items = client.get("/me/addresses", headers=as_ann).get_json()["items"]
    assert [a["id"] for a in items] == [first.id, second.id]


def test_patch_changes_only_the_given_fields_and_null_clears_optional_ones(
    client: FlaskClient, as_ann: dict[str, str], ann: Profile, session: Session
) -> None:
    address = make_address(session, ann, line2="Flat 2", label="Work")
    url = f"/me/addresses/{address.id}"
    response = client.patch(url, json={"city": "Porto", "line2": None}, headers=as_ann)
    assert response.status_code == 200
    body = response.get_json()
    assert (body["city"], body["line2"], body["label"]) == ("Porto", None, "Work")
    assert body["name"] == address.name


def test_delete_removes_the_address(
    client: FlaskClient, as_ann: dict[str, str], ann: Profile, session: Session
) -> None:
    address = make_address(session, ann)
    url = f"/me/addresses/{address.id}"
    assert client.delete(url, headers=as_ann).status_code == 204
    problem_of(client.get(url, headers=as_ann), 404, "address-not-found")
    problem_of(client.delete(url, headers=as_ann), 404, "address-not-found")


def test_a_new_default_address_clears_the_previous_default(
    client: FlaskClient, as_ann: dict[str, str], ann: Profile, session: Session
) -> None:
    home = client.post("/me/addresses", json=new_address(is_default=True), headers=as_ann)
    assert defaults(session, ann) == [home.get_json()["id"]]
    work = client.post(
        "/me/addresses", json=new_address(label="Work", is_default=True), headers=as_ann
    )
    work_id = work.get_json()["id"]
    assert defaults(session, ann) == [work_id]
    listed = client.get("/me/addresses", headers=as_ann).get_json()["items"]
    assert [a["is_default"] for a in listed] == [False, True]


def test_making_an_address_the_default_by_patch_clears_the_other(
    client: FlaskClient, as_ann: dict[str, str], ann: Profile, session: Session
) -> None:
    old = make_address(session, ann, is_default=True)
    new = make_address(session, ann)
    other_users = make_address(session, make_profile(session), is_default=True)
    response = client.patch(f"/me/addresses/{new.id}", json={"is_default": True}, headers=as_ann)
    assert response.get_json()["is_default"] is True
    assert defaults(session, ann) == [new.id]
    assert client.get(f"/me/addresses/{old.id}", headers=as_ann).get_json()["is_default"] is False
    session.refresh(other_users)
    assert other_users.is_default is True
    # Making the default the default again changes nothing.
    client.patch(f"/me/addresses/{new.id}", json={"is_default": True}, headers=as_ann)
    assert defaults(session, ann) == [new.id]


def test_unsetting_the_default_leaves_no_default(
    client: FlaskClient, as_ann: dict[str, str], ann: Profile, session: Session
) -> None:
    address = make_address(session, ann, is_default=True)
    client.patch(f"/me/addresses/{address.id}", json={"is_default": False}, headers=as_ann)
    assert defaults(session, ann) == []


def test_the_21st_address_is_409_and_not_stored(
    client: FlaskClient, as_ann: dict[str, str], ann: Profile, session: Session
) -> None:
    for _ in range(MAX_ADDRESSES_PER_USER - 1):
        make_address(session, ann)
    assert client.post("/me/addresses", json=new_address(), headers=as_ann).status_code == 201
    body = problem_of(
        client.post("/me/addresses", json=new_address(), headers=as_ann),
        409,
        "too-many-addresses",
    )
    assert body["limit"] == MAX_ADDRESSES_PER_USER
    assert len(client.get("/me/addresses", headers=as_ann).get_json()["items"]) == 20


@pytest.mark.parametrize(
    ("method", "body"),
    [("get", None), ("patch", {"city": "Hijacked", "is_default": True}), ("delete", None)],
)
def test_touching_another_users_address_is_404_and_leaves_it_unchanged(
    client: FlaskClient,
    as_ann: dict[str, str],
    session: Session,
    method: str,
    body: dict[str, Any] | None,
) -> None:
    bob = make_profile(session)
    bobs = make_address(session, bob, city="Madrid", is_default=True)
    unknown = client.open(
        f"/me/addresses/{uuid.uuid4()}", method=method.upper(), json=body, headers=as_ann
    )
    response = client.open(
        f"/me/addresses/{bobs.id}", method=method.upper(), json=body, headers=as_ann
    )
    problem_of(response, 404, "address-not-found")
    assert response.get_json()["title"] == unknown.get_json()["title"]
    session.expire_all()
    after = session.get(Address, bobs.id)
    assert after is not None
    assert (after.user_id, after.city, after.is_default) == (bob.id, "Madrid", True)


def test_addresses_of_a_user_without_profile_are_404(
    client: FlaskClient, token_minter: TokenMinter
) -> None:
    stranger = user_auth(token_minter, str(uuid.uuid4()))
    problem_of(client.get("/me/addresses", headers=stranger), 404, "profile-not-found")
    problem_of(
        client.post("/me/addresses", json=new_address(), headers=stranger),
        404,
        "profile-not-found",
    )


def test_addresses_need_a_token(client: FlaskClient) -> None:
    problem_of(client.get("/me/addresses"), 401)
    problem_of(client.post("/me/addresses", json={"not": "valid"}), 401)


@pytest.mark.parametrize(
    "override",
    [
        {"country": "ZZ"},
        {"country": "GBR"},
        {"country": "G1"},
        {"name": ""},
        {"name": "x" * 121},
        {"line1": "two\nlines"},
        {"city": None},
        {"postal_code": "!!!"},
        {"postal_code": "1" * 21},
        {"phone": "not a phone"},
        {"is_default": "maybe"},
        {"user_id": str(uuid.uuid4())},
        {"id": str(uuid.uuid4())},
    ],
)
def test_invalid_address_bodies_are_422(
    client: FlaskClient, as_ann: dict[str, str], override: dict[str, Any]
) -> None:
    response = client.post("/me/addresses", json=new_address(**override), headers=as_ann)
    assert problem_of(response, 422, "validation-error")["errors"]


@pytest.mark.parametrize(
    "changes",
    [{"name": None}, {"country": None}, {"is_default": None}, {"user_id": "x"}, {"id": "x"}],
)
def test_invalid_address_changes_are_422_and_change_nothing(
    client: FlaskClient,
    as_ann: dict[str, str],
    ann: Profile,
    session: Session,
    changes: dict[str, Any],
) -> None:
    address = make_address(session, ann)
    response = client.patch(f"/me/addresses/{address.id}", json=changes, headers=as_ann)
    problem_of(response, 422, "validation-error")
    session.expire_all()
    after = session.get(Address, address.id)
    assert after is not None
    assert (after.user_id, after.name, after.country) == (ann.id, address.name, "PT")


def test_address_ids_that_are_not_uuids_are_404(
    client: FlaskClient, as_ann: dict[str, str]
) -> None:
    problem_of(client.get("/me/addresses/42", headers=as_ann), 404)
