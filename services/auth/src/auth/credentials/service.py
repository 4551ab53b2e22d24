"""Credential operations: plain functions over a session; they flush, the caller commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from auth.credentials.passwords import Passwords, password_problems
from auth.models import Credential
from chassis.errors import Conflict, ValidationFailed
from chassis.schemas import Email

ROLES = ("customer", "admin")
_EMAIL: TypeAdapter[str] = TypeAdapter(Email)


class DuplicateEmail(Conflict):
    """An account with this email exists."""

    slug, title = "duplicate-email", "Email already registered"


class WeakPassword(ValidationFailed):
    """The password breaks a rule (too short or long, too common, the email's name)."""

    slug, title = "weak-password", "Weak password"


def normalize_email(email: str) -> str:
    """The form emails are stored and compared in: trimmed, lower-cased."""
    return email.strip().lower()


def checked_email(email: str) -> str:
    """The normalised email, or 422 when it is not shaped like one (as the API checks it)."""
    try:
        return _EMAIL.validate_python(email)
    except ValidationError as exc:
        raise ValidationFailed("The email address is not valid.") from exc


def get_by_email(*, session: Session, email: str) -> Credential | None:
    """The credential of a (normalised) email, if any."""
    return session.scalar(select(Credential).where(Credential.email == email))


def count_credentials(*, session: Session) -> int:
    """How many accounts exist."""
    return int(session.scalar(select(func.count()).select_from(Credential)) or 0)


def new_credential(
    *,
    session: Session,
    passwords: Passwords,
    email: str,
    password: str | None,
    roles: Sequence[str] = ("customer",),
) -> Credential:
    """A checked, hashed credential, not yet in the session; 422 weak password, 409 taken email.

    `password=None`: an account of an external provider, with no password to sign in with.
    """
    email = checked_email(email)
    unknown = set(roles) - set(ROLES)
    if unknown or not roles:
        raise ValueError(f"roles must be among {ROLES}, not {sorted(unknown)}")
    password_hash = None
    if password is not None:
        problems = password_problems(password, email=email)
        if problems:
            raise WeakPassword("Choose another password: " + "; ".join(problems) + ".")
        # Hashed before the first query: on SQLite a write's first query takes the
        # database's one write lock, which must not be held through a deliberately slow hash.
        password_hash = passwords.hash(password)
    if get_by_email(session=session, email=email) is not None:
        raise DuplicateEmail("An account with this email already exists.")
    return Credential(
        id=str(uuid.uuid4()), email=email, password_hash=password_hash, roles=list(roles)
    )


def create_credential(
    *,
    session: Session,
    passwords: Passwords,
    email: str,
    password: str,
    roles: Sequence[str] = ("customer",),
) -> Credential:
    """Store a new account's credential; 422 for a weak password, 409 for a taken email."""
    credential = new_credential(
        session=session, passwords=passwords, email=email, password=password, roles=roles
    )
    try:
        with session.begin_nested():
            session.add(credential)
    except IntegrityError as exc:  # registered concurrently since the check above
        raise DuplicateEmail("An account with this email already exists.") from exc
    return credential


def verify_password(
    *, session: Session, passwords: Passwords, email: str, password: str
) -> Credential | None:
    """The credential when the password matches, else None; unknown emails take as long.

    A hash made with older parameters is replaced on the way (flushed, not committed).
    """
    credential = get_by_email(session=session, email=normalize_email(email))
    matches = passwords.verify(credential.password_hash if credential else None, password)
    if credential is None or credential.password_hash is None or not matches:
        return None
    if passwords.needs_rehash(credential.password_hash):
        credential.password_hash = passwords.hash(password)
        session.flush()
    return credential
