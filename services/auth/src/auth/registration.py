"""Registration spans two services: credentials here, the profile in users.

The credential is flushed, the profile created, then the credential committed. If users
fails, nothing is committed (the caller's rollback drops the credential); if the commit
fails after users created the profile, the profile is deleted again (compensation). This
is the one place in auth that commits on its own: the commit must happen before the
answer, while a compensation is still possible.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from auth.credentials.passwords import Passwords
from auth.credentials.service import DuplicateEmail, create_credential
from auth.models import Credential
from auth.profiles import Profiles
from chassis.errors import ServiceUnavailable


def register(
    *,
    session: Session,
    passwords: Passwords,
    profiles: Profiles,
    email: str,
    password: str | None,
    display_name: str,
    roles: Sequence[str] = ("customer",),
) -> Credential:
    """Create the account in auth and its profile in users, or neither.

    Without a password the account signs in only through an external provider.
    """
    credential = create_credential(
        session=session, passwords=passwords, email=email, password=password, roles=roles
    )
    profiles.create(
        user_id=credential.id,
        email=credential.email,
        display_name=display_name,
        role="admin" if "admin" in roles else "customer",
    )
    try:
        session.commit()
    except SQLAlchemyError as exc:
        session.rollback()
        profiles.delete(credential.id)
        if isinstance(exc, IntegrityError):
            raise DuplicateEmail("An account with this email already exists.") from exc
        raise ServiceUnavailable("The account could not be saved; try again.") from exc
    return credential
