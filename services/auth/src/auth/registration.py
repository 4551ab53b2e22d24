"""Registration spans two services: credentials here, the profile in users.

The credential is checked and hashed, and the email looked up, in a transaction that ends
before users is called: no lock or write transaction of auth waits on another service (on
SQLite the lookup holds the database's one write lock). Then the profile is created, and
the credential inserted and committed in one short transaction. If users fails, auth has
written nothing; if the commit fails (an email registered concurrently, say), the profile
is deleted again (compensation). This is the one place in auth that commits on its own:
the commit must happen before the answer, while a compensation is still possible.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from auth.credentials.passwords import Passwords
from auth.credentials.service import DuplicateEmail, new_credential
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
    credential = new_credential(
        session=session, passwords=passwords, email=email, password=password, roles=roles
    )
    session.rollback()  # the lookup's transaction: nothing was written
    profiles.create(
        user_id=credential.id,
        email=credential.email,
        display_name=display_name,
        role="admin" if "admin" in roles else "customer",
    )
    session.add(credential)
    try:
        session.commit()
    except SQLAlchemyError as exc:
        session.rollback()
        profiles.delete(credential.id)
        if isinstance(exc, IntegrityError):
            raise DuplicateEmail("An account with this email already exists.") from exc
        raise ServiceUnavailable("The account could not be saved; try again.") from exc
    return credential
