"""Profile operations: plain functions over a session; they flush, the caller commits."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chassis.errors import Conflict, NotFound
from chassis.pagination import CursorCodec, Page, SortKey, keyset_page
from users.models import Address, Profile

OLDEST_FIRST = SortKey("created", ((Profile.created_at, False), (Profile.id, False)))


class ProfileNotFound(NotFound):
    """No such profile, or the caller may not know whether there is one."""

    slug, title = "profile-not-found", "Profile not found"


class DuplicateEmail(Conflict):
    """Another profile has that email."""

    slug, title = "duplicate-email", "Duplicate email"


def get_profile(*, session: Session, user_id: str, lock: bool = False) -> Profile:
    """One profile by user id; 404 when there is none. `lock` holds it until commit."""
    profile = session.get(Profile, user_id, with_for_update=True if lock else None)
    if profile is None:
        raise ProfileNotFound(f"No profile with id {user_id}.")
    return profile


def get_profile_as(*, session: Session, user_id: str, viewer_id: str, is_admin: bool) -> Profile:
    """A profile its owner or an admin asks for; anyone else gets the unknown id's 404."""
    if viewer_id != user_id and not is_admin:
        raise ProfileNotFound(f"No profile with id {user_id}.")
    return get_profile(session=session, user_id=user_id)


def list_profiles(*, session: Session, codec: CursorCodec, cursor: str | None, limit: int) -> Page:
    """Every profile, oldest first, one keyset page at a time."""
    return keyset_page(
        session,
        select(Profile),
        sort=OLDEST_FIRST,
        codec=codec,
        cursor=cursor,
        limit=limit,
        key_of=lambda p: [p.created_at, p.id],
        types=(dt.datetime, str),
    )


def create_profile(
    *, session: Session, user_id: str, email: str, display_name: str, role: str
) -> tuple[Profile, bool]:
    """Add a profile, or return the one with this id (and False) if it exists already.

    409 when another profile has the email.
    """
    existing = session.get(Profile, user_id)
    if existing is not None:
        return existing, False
    profile = Profile(id=user_id, email=email, display_name=display_name, role=role)
    try:
        with session.begin_nested():
            session.add(profile)
    except IntegrityError as exc:
        # A concurrent request with the same id got there first: answer as for a repeat.
        raced = session.get(Profile, user_id)
        if raced is not None:
            return raced, False
        raise DuplicateEmail("Another profile has this email.") from exc
    return profile, True


def update_profile(*, session: Session, user_id: str, changes: dict[str, object]) -> Profile:
    """Apply the given changes (display name, phone) to a user's own profile."""
    profile = get_profile(session=session, user_id=user_id)
    for field, value in changes.items():
        setattr(profile, field, value)
    session.flush()
    return profile


def delete_profile(*, session: Session, user_id: str) -> None:
    """Remove a profile and its addresses; 404 when there is none."""
    profile = get_profile(session=session, user_id=user_id, lock=True)
    # Explicit rather than trusting ON DELETE CASCADE, which SQLite honours only when enabled.
    session.execute(delete(Address).where(Address.user_id == user_id))
    session.delete(profile)
    session.flush()
