"""The profile API, end to end through Flask, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chassis.testing import TokenMinter, problem_of
from users.models import Address, Profile

from ..conftest import make_address, make_profile, user_auth


def new_profile(**overrides: Any) -> dict[str, Any]:
    """A valid ProfileCreate body."""
    return {
        "id": str(uuid.uuid4()),
        "email": "ann@bazaar.test",
        "display_name": "Ann",
        "role": "customer",
        **overrides,
    }


def stored(session: Session, user_id: str) -> Profile | None:
    """The profile as the database has it now, not as the session remembers it."""
    session.expire_all()
    return session.get(Profile, user_id)


# -- POST / ----------------------------------------------------------------------------


def test_service_token_creates_a_profile_with_201_and_location(
    client: FlaskClient, service_token: dict[str, str]
) -> None:
    body = new_profile(email="Ann@Bazaar.TEST", display_name="  Ann  ")
    response = client.post("/", json=body, headers=service_token)
    assert response.status_code == 201
    created = response.get_json()
    assert created["id"] == body["id"]
    assert created["email"] == "ann@bazaar.test"
    assert created["display_name"] == "Ann"
    assert created["phone"] is None
    assert created["role"] == "customer"
    assert response.headers["Location"] == "/" + body["id"]


def test_creating_the_same_id_again_is_200_with_the_stored_profile(
    client: FlaskClient, service_token: dict[str, str], session: Session
) -> None:
    body = new_profile()
    first = client.post("/", json=body, headers=service_token)
    again = client.post("/", json={**body, "display_name": "Changed"}, headers=service_token)
    assert again.status_code == 200
    assert again.get_json() == first.get_json()
    assert session.scalar(select(func.count()).select_from(Profile)) == 1


def test_email_taken_by_another_id_is_409(
    client: FlaskClient, service_token: dict[str, str], session: Session
) -> None:
    taken = make_profile(session, email="ann@bazaar.test")
    response = client.post("/", json=new_profile(email="ANN@bazaar.test"), headers=service_token)
    problem_of(response, 409, "duplicate-email")
    assert session.scalar(select(func.count()).select_from(Profile)) == 1
    assert stored(session, taken.id) is not None


def test_admin_role_is_kept_when_created_as_admin(
    client: FlaskClient, service_token: dict[str, str]
) -> None:
    response = client.post("/", json=new_profile(role="admin"), headers=service_token)
    assert response.get_json()["role"] == "admin"


@pytest.mark.parametrize("roles", [("customer",), ("admin",)])
def test_creating_with_a_user_token_is_403(
    client: FlaskClient, token_minter: TokenMinter, roles: tuple[str, ...]
) -> None:
    user = token_minter.auth(str(uuid.uuid4()), roles=roles)
    problem_of(client.post("/", json=new_profile(), headers=user), 403, "forbidden")


def test_creating_with_a_service_token_lacking_users_write_is_403(
    client: FlaskClient, token_minter: TokenMinter
) -> None:
    reader = token_minter.auth("client:reports", scopes=("users:read", "orders:write"))
    problem_of(client.post("/", json=new_profile(), headers=reader), 403, "forbidden")


def test_creating_without_a_token_is_401(client: FlaskClient) -> None:
    response = client.post("/", json=new_profile())
    problem_of(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "override",
    [
        {"id": "not-a-uuid"},
        {"id": 42},
        {"email": "no-at-sign"},
        {"email": "ann@localhost"},
        {"email": "a" * 250 + "@b.co"},
        {"display_name": ""},
        {"display_name": "   "},
        {"display_name": "x" * 81},
        {"display_name": "line\nbreak"},
        {"display_name": "nul\x00byte"},
        {"display_name": "evil\u202etxt.exe"},
        {"role": "superuser"},
        {"phone": "+1 555 0100"},
    ],
)
def test_invalid_create_bodies_are_422(
    client: FlaskClient, service_token: dict[str, str], override: dict[str, Any]
) -> None:
    response = client.post("/", json=new_profile(**override), headers=service_token)
    assert problem_of(response, 422, "validation-error")["errors"]


def test_malformed_json_is_400_and_other_media_types_415(
    client: FlaskClient, service_token: dict[str, str]
) -> None:
    problem_of(
        client.post("/", data="{nope", content_type="application/json", headers=service_token),
        400,
    )
    problem_of(
        client.post("/", data="id=1", content_type="text/plain", headers=service_token),
        415,
        "unsupported-media-type",
    )


# -- DELETE /<user_id> -----------------------------------------------------------------


def test_delete_removes_the_profile_and_its_addresses(
    client: FlaskClient, service_token: dict[str, str], session: Session
) -> None:
    ann, bob = make_profile(session), make_profile(session)
    make_address(session, ann)
    make_address(session, ann, is_default=True)
    kept = make_address(session, bob)
    url = f"/{ann.id}"
    assert client.delete(url, headers=service_token).status_code == 204
    assert stored(session, bob.id) is not None
    assert session.get(Profile, url.lstrip("/")) is None
    assert session.scalars(select(Address.id)).all() == [kept.id]
    problem_of(client.delete(url, headers=service_token), 404, "profile-not-found")


def test_delete_needs_the_users_write_scope(
    client: FlaskClient, token_minter: TokenMinter, session: Session
) -> None:
    ann = make_profile(session)
    problem_of(client.delete(f"/{ann.id}"), 401)
    admin = token_minter.auth(str(uuid.uuid4()), roles=("admin",))
    problem_of(client.delete(f"/{ann.id}", headers=admin), 403)
    problem_of(client.delete(f"/{ann.id}", headers=user_auth(token_minter, ann)), 403)
    assert stored(session, ann.id) is not None


# -- /me -------------------------------------------------------------------------------


def test_me_returns_the_callers_own_profile(
    client: FlaskClient, token_minter: TokenMinter, session: Session
) -> None:
    ann = make_profile(session, phone="+351 21 000 0000")
    make_profile(session)
    body = client.get("/me", headers=user_auth(token_minter, ann)).get_json()
    assert body["id"] == ann.id
    assert body["email"] == ann.email
    assert body["phone"] == "+351 21 000 0000"
    assert set(body) == {
        "id",
        "email",
        "display_name",
        "phone",
        "role",
        "created_at",
        "updated_at",
    }


def test_me_is_404_until_the_profile_exists(
    client: FlaskClient, token_minter: TokenMinter, service_token: dict[str, str]
) -> None:
    problem_of(
        client.get("/me", headers=user_auth(token_minter, str(uuid.uuid4()))),
        404,
        "profile-not-found",
    )
    problem_of(client.get("/me", headers=service_token), 404, "profile-not-found")


def test_me_without_a_token_is_401(client: FlaskClient) -> None:
    problem_of(client.get("/me"), 401)
    problem_of(client.patch("/me", json={"display_name": "X"}), 401)


def test_patch_me_changes_display_name_and_phone(
    client: FlaskClient, token_minter: TokenMinter, session: Session
) -> None:
    ann = make_profile(session)
    headers = user_auth(token_minter, ann)
    response = client.patch(
        "/me", json={"display_name": "Ann Smith", "phone": "+44 (20) 7946-0000"}, headers=headers
    )
    assert response.status_code == 200
    assert response.get_json()["display_name"] == "Ann Smith"
    again = client.get("/me", headers=headers).get_json()
    assert again["display_name"] == "Ann Smith"
    assert again["phone"] == "+44 (20) 7946-0000"
    assert again["updated_at"] >= again["created_at"]


def test_patch_me_with_null_phone_removes_it_and_empty_body_changes_nothing(
    client: FlaskClient, token_minter: TokenMinter, session: Session
) -> None:
    ann = make_profile(session, phone="+49 30 1234567")
    headers = user_auth(token_minter, ann)
    assert client.patch("/me", json={}, headers=headers).get_json()["phone"] == "+49 30 1234567"
    assert client.patch("/me", json={"phone": None}, headers=headers).get_json()["phone"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"role": "admin"},
        {"email": "boss@bazaar.test"},
        {"id": "00000000-0000-0000-0000-000000000001"},
        {"display_name": "Sneaky", "role": "admin"},
        {"display_name": "Sneaky", "email": "boss@bazaar.test"},
        {"created_at": "2020-01-01T00:00:00Z"},
    ],
)
def test_patch_me_refuses_other_fields_with_422_and_changes_nothing(
    client: FlaskClient, token_minter: TokenMinter, session: Session, body: dict[str, Any]
) -> None:
    ann = make_profile(session)
    before = (ann.id, ann.email, ann.display_name, ann.role, ann.updated_at)
    response = client.patch("/me", json=body, headers=user_auth(token_minter, ann))
    problem_of(response, 422, "validation-error")
    after = stored(session, ann.id)
    assert after is not None
    assert (after.id, after.email, after.display_name, after.role, after.updated_at) == before


@pytest.mark.parametrize(
    "body",
    [
        {"display_name": None},
        {"display_name": ""},
        {"display_name": "tab\there"},
        {"phone": "call me"},
        {"phone": "12345"},
        {"phone": "+1" + "2" * 20},
        [],
        "text",
    ],
)
def test_patch_me_with_invalid_values_is_422(
    client: FlaskClient, token_minter: TokenMinter, session: Session, body: Any
) -> None:
    ann = make_profile(session)
    response = client.patch("/me", json=body, headers=user_auth(token_minter, ann))
    problem_of(response, 422, "validation-error")
    after = stored(session, ann.id)
    assert after is not None
    assert after.display_name == ann.display_name


def test_patch_me_with_a_null_body_is_422_and_changes_nothing(
    client: FlaskClient, token_minter: TokenMinter, session: Session
) -> None:
    ann = make_profile(session, phone="+49 30 1234567")
    response = client.patch(
        "/me", data="null", content_type="application/json", headers=user_auth(token_minter, ann)
    )
    problem_of(response, 422, "validation-error")
    after = stored(session, ann.id)
    assert after is not None
    assert (after.display_name, after.phone) == (ann.display_name, "+49 30 1234567")


def test_delete_me_is_not_a_route(client: FlaskClient, service_token: dict[str, str]) -> None:
    # `/me` must never reach the `/<user_id>` rules, which would try to delete "me".
    response = client.delete("/me", headers=service_token)
    problem_of(response, 405, "method-not-allowed")
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "PATCH"}


# -- GET /<user_id> --------------------------------------------------------------------


def test_owner_reads_their_profile_by_id(
    client: FlaskClient, token_minter: TokenMinter, session: Session
) -> None:
    ann = make_profile(session)
    response = client.get(f"/{ann.id}", headers=user_auth(token_minter, ann))
    assert response.get_json()["email"] == ann.email


def test_reading_another_users_profile_is_the_same_404_as_an_unknown_id(
    client: FlaskClient, token_minter: TokenMinter, session: Session
) -> None:
    ann, bob = make_profile(session), make_profile(session)
    headers = user_auth(token_minter, ann)
    unknown_id = str(uuid.uuid4())
    someone_elses = problem_of(client.get(f"/{bob.id}", headers=headers), 404)
    nobodys = problem_of(client.get(f"/{unknown_id}", headers=headers), 404)

    def without_id(body: dict[str, Any], user_id: str) -> dict[str, Any]:
        # The trace id names this one request, as the X-Request-ID header does.
        return {k: str(v).replace(user_id, "<id>") for k, v in body.items() if k != "trace_id"}

    assert without_id(someone_elses, bob.id) == without_id(nobodys, unknown_id)
    assert someone_elses["type"] == "/problems/profile-not-found"


def test_service_tokens_cannot_read_profiles_by_id(
    client: FlaskClient, service_token: dict[str, str], session: Session
) -> None:
    ann = make_profile(session)
    problem_of(client.get(f"/{ann.id}", headers=service_token), 404, "profile-not-found")


def test_admin_reads_anyones_profile(
    client: FlaskClient, token_minter: TokenMinter, session: Session
) -> None:
    ann = make_profile(session)
    admin = token_minter.auth(str(uuid.uuid4()), roles=("admin",))
    assert client.get(f"/{ann.id}", headers=admin).get_json()["id"] == ann.id
    problem_of(client.get(f"/{uuid.uuid4()}", headers=admin), 404, "profile-not-found")


def test_user_ids_in_paths_are_case_insensitive_uuids(
    client: FlaskClient, token_minter: TokenMinter, session: Session
) -> None:
    ann = make_profile(session)
    headers = user_auth(token_minter, ann)
    assert client.get(f"/{ann.id.upper()}", headers=headers).status_code == 200
    problem_of(client.get("/not-a-uuid", headers=headers), 404)


# -- GET / -----------------------------------------------------------------------------


def walk(client: FlaskClient, headers: dict[str, str], limit: int) -> list[str]:
    """Follow next_cursor to the end; return every id seen, in order."""
    seen: list[str] = []
    url = f"/?limit={limit}"
    for _ in range(100):
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        assert set(body) == {"items", "next_cursor"}
        assert len(body["items"]) <= limit
        seen += [item["id"] for item in body["items"]]
        if body["next_cursor"] is None:
            return seen
        url = f"/?limit={limit}&cursor={body['next_cursor']}"
    raise AssertionError("pagination did not end")


def test_admin_pages_through_45_profiles_without_gaps_or_repeats(
    client: FlaskClient, token_minter: TokenMinter, session: Session
) -> None:
    # Some share a creation time, so the id must break ties.
    same_moment = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    profiles = [make_profile(session) for _ in range(35)]
    profiles += [make_profile(session, created_at=same_moment) for _ in range(10)]
    expected = [p.id for p in sorted(profiles, key=lambda p: (p.created_at, p.id))]
    admin = token_minter.auth(str(uuid.uuid4()), roles=("admin",))
    for limit in (7, 20, 45, 100):
        assert walk(client, admin, limit) == expected
    assert len(client.get("/", headers=admin).get_json()["items"]) == 20


def test_customers_and_services_cannot_list_profiles(
    client: FlaskClient, token_minter: TokenMinter, service_token: dict[str, str], session: Session
) -> None:
    ann = make_profile(session)
    problem_of(client.get("/", headers=user_auth(token_minter, ann)), 403, "forbidden")
    problem_of(client.get("/", headers=service_token), 403, "forbidden")
    problem_of(client.get("/"), 401)


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=ten", "cursor=" + "x" * 1001])
def test_bad_list_parameters_are_400(
    client: FlaskClient, token_minter: TokenMinter, query: str
) -> None:
    admin = token_minter.auth(str(uuid.uuid4()), roles=("admin",))
    problem_of(client.get(f"/?{query}", headers=admin), 400, "invalid-parameter")


def test_forged_cursor_is_400(client: FlaskClient, token_minter: TokenMinter) -> None:
    admin = token_minter.auth(str(uuid.uuid4()), roles=("admin",))
    problem_of(client.get("/?cursor=forged.cursor", headers=admin), 400, "invalid-cursor")
