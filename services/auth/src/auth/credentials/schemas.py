"""Registration request and response bodies."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from auth.credentials.passwords import MAX_LENGTH, MIN_LENGTH
from chassis.schemas import DisplayName, Email, Model


def _typeable(value: str) -> str:
    # JSON may carry lone surrogates: no keyboard types them, and UTF-8 cannot encode them.
    if any("\ud800" <= char <= "\udfff" for char in value):
        raise ValueError("lone surrogates are not allowed")
    return value


Password = Annotated[
    str, Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH), AfterValidator(_typeable)
]


class AccountCreate(Model):
    """A new customer account; the email is trimmed and lower-cased."""

    email: Email
    password: Password = Field(
        description=f"{MIN_LENGTH}-{MAX_LENGTH} characters, not a common password"
    )
    display_name: DisplayName


class AccountRead(Model):
    """The account as registered; the id is the user id in every service."""

    id: str
    email: str
    display_name: str
