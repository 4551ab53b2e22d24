"""Signing in and signing up with the login throttle, for the token endpoint and the pages."""

from __future__ import annotations

from sqlalchemy.orm import Session

from auth.components import AuthComponents
from auth.credentials.service import DuplicateEmail, normalize_email, verify_password
from auth.models import Credential
from auth.oauth_errors import InvalidGrant
from auth.registration import register

WRONG_CREDENTIALS = "The email or password is wrong."


def sign_in(
    *, session: Session, parts: AuthComponents, email: str, password: str, client_ip: str
) -> Credential:
    """The account of a right password: 429 while throttled, 400 invalid_grant otherwise."""
    email = normalize_email(email)
    parts.throttle.check(ip=client_ip, email=email)
    credential = verify_password(
        session=session, passwords=parts.passwords, email=email, password=password
    )
    if credential is None:
        # Nothing here is worth keeping. Ending this transaction before the failure is
        # counted (in its own) keeps that count from ever nesting inside it: where both
        # share one connection, as in the tests, a rollback of ours would undo it.
        session.rollback()
        parts.throttle.failed(ip=client_ip, email=email)
        raise InvalidGrant(WRONG_CREDENTIALS)
    parts.throttle.succeeded(email=email, session=session)
    return credential


def sign_up(
    *,
    session: Session,
    parts: AuthComponents,
    email: str,
    password: str,
    display_name: str,
    client_ip: str,
) -> Credential:
    """Register a customer: 429 while this IP is throttled; a taken email counts as a failure."""
    parts.throttle.check(ip=client_ip)
    try:
        return register(
            session=session,
            passwords=parts.passwords,
            profiles=parts.profiles,
            email=email,
            password=password,
            display_name=display_name,
        )
    except DuplicateEmail:
        # A 409 tells whether an email has an account: guessing counts as failing. (The
        # request's transaction ends first; see sign_in.)
        session.rollback()
        parts.throttle.failed(ip=client_ip)
        raise
