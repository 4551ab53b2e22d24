"""Profile endpoints: parse, call one service function, answer."""

from __future__ import annotations

import uuid
from typing import Any

from apiflask import APIBlueprint
from flask import url_for

from chassis.flaskapp import db_session, require_role, require_scope
from chassis.flaskapp import service as chassis_service
from users.access import caller_id, caller_is_admin, signed_in
from users.profiles import service
from users.profiles.schemas import (
    ProfileCreate,
    ProfilePage,
    ProfileQuery,
    ProfileRead,
    ProfileUpdate,
)

bp = APIBlueprint("profiles", __name__, tag="Profiles")

WRITE_SCOPE = "users:write"
# POST / answers 200 with the stored profile when the id exists already.
_ALREADY_EXISTED: dict[int | str, dict[str, str | dict[str, dict[str, Any]]]] = {
    200: {
        "description": "A profile with this id existed; it is returned unchanged",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ProfileRead"}}},
    }
}


@bp.post("/")
@require_scope(WRITE_SCOPE)
@bp.input(ProfileCreate, arg_name="body")
@bp.output(ProfileRead, status_code=201, description="Profile created")
@bp.doc(responses=_ALREADY_EXISTED)
def create_profile(body: ProfileCreate) -> Any:
    """Create a profile (service token with users:write); repeating it with the same id is 200."""
    profile, created = service.create_profile(
        session=db_session(),
        user_id=str(body.id),
        email=body.email,
        display_name=body.display_name,
        role=body.role,
    )
    if not created:
        return ProfileRead.model_validate(profile), 200
    return (
        ProfileRead.model_validate(profile),
        201,
        {"Location": url_for("profiles.get_profile", user_id=profile.id)},
    )


@bp.get("/")
@require_role("admin")
@bp.input(ProfileQuery, location="query", arg_name="query")
@bp.output(ProfilePage)
def list_profiles(query: ProfileQuery) -> ProfilePage:
    """List every profile, oldest first, with keyset pagination (admin)."""
    page = service.list_profiles(
        session=db_session(),
        codec=chassis_service().cursor_codec("profiles"),
        cursor=query.cursor,
        limit=query.limit,
    )
    return ProfilePage.model_validate({"items": page.items, "next_cursor": page.next_cursor})


@bp.get("/me")
@signed_in
@bp.output(ProfileRead)
def get_own_profile() -> ProfileRead:
    """The caller's own profile; 404 until it has been created."""
    return ProfileRead.model_validate(
        service.get_profile(session=db_session(), user_id=caller_id())
    )


@bp.patch("/me")
@signed_in
@bp.input(ProfileUpdate, arg_name="body")
@bp.output(ProfileRead)
def update_own_profile(body: ProfileUpdate) -> ProfileRead:
    """Change the caller's display name or phone; any other field is refused with 422."""
    changes = body.model_dump(exclude_unset=True)
    profile = service.update_profile(session=db_session(), user_id=caller_id(), changes=changes)
    return ProfileRead.model_validate(profile)


# `uuid:` keeps `/me` out of this rule, whatever the order rules are matched in.
@bp.get("/<uuid:user_id>")
@signed_in
@bp.output(ProfileRead)
def get_profile(user_id: uuid.UUID) -> ProfileRead:
    """One profile, for its owner or an admin; anyone else gets 404 as for an unknown id."""
    profile = service.get_profile_as(
        session=db_session(),
        user_id=str(user_id),
        viewer_id=caller_id(),
        is_admin=caller_is_admin(),
    )
    return ProfileRead.model_validate(profile)


@bp.delete("/<uuid:user_id>")
@require_scope(WRITE_SCOPE)
@bp.output({}, status_code=204)
def delete_profile(user_id: uuid.UUID) -> Any:
    """Remove a profile and its addresses (service token with users:write)."""
    service.delete_profile(session=db_session(), user_id=str(user_id))
    return ""
