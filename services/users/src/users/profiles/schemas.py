"""Profile request and response bodies."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from chassis.pagination import DEFAULT_LIMIT, MAX_LIMIT
from chassis.schemas import Cursor, Model, Query, ReadModel
from users.fields import DisplayName, Email, Phone

Role = Literal["customer", "admin"]


class ProfileCreate(Model):
    """A new profile, sent by auth when a user registers; `id` is the user id auth issued."""

    id: uuid.UUID
    email: Email
    display_name: DisplayName
    role: Role = "customer"


class ProfileUpdate(Model):
    """What a user may change in their own profile; any other field is refused."""

    # Null is not a name: the schema shows a string, and an explicit null is refused.
    display_name: DisplayName | SkipJsonSchema[None] = None
    phone: Phone | None = Field(default=None, description="null removes the phone number")

    @model_validator(mode="after")
    def _display_name_not_null(self) -> Self:
        if "display_name" in self.model_fields_set and self.display_name is None:
            raise ValueError("display_name cannot be null")
        return self


class ProfileRead(ReadModel):
    """A profile as its owner, admins and services see it."""

    id: str
    email: str
    display_name: str
    phone: str | None
    role: Role
    created_at: dt.datetime
    updated_at: dt.datetime


class ProfilePage(Model):
    """One page of profiles; pass `next_cursor` back as `cursor` for the next one."""

    items: list[ProfileRead]
    next_cursor: str | None


class ProfileQuery(Query):
    """Paging for the profile list, oldest first."""

    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT
    cursor: Cursor | None = None
