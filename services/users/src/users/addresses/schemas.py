"""Address request and response bodies."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Self

from pydantic import AfterValidator, Field, StringConstraints, model_validator
from pydantic.json_schema import SkipJsonSchema

from chassis.schemas import Model, ReadModel
from users.addresses.countries import COUNTRY_CODES
from users.fields import Line, Phone


def _known_country(value: str) -> str:
    code = value.upper()
    if code not in COUNTRY_CODES:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return code


def _country_pattern(codes: frozenset[str]) -> str:
    # The code list as a pattern, either case: `^(?:[Aa][DdEe...]|[Bb][...]|...)$`.
    seconds: dict[str, list[str]] = {}
    for code in sorted(codes):
        seconds.setdefault(code[0], []).append(code[1])
    groups = (
        f"[{first}{first.lower()}][{''.join(c + c.lower() for c in rest)}]"
        for first, rest in seconds.items()
    )
    return "^(?:" + "|".join(groups) + ")$"


Label = Annotated[Line, StringConstraints(max_length=40)]
Recipient = Annotated[Line, StringConstraints(max_length=120)]
AddressLine = Annotated[Line, StringConstraints(max_length=200)]
City = Annotated[Line, StringConstraints(max_length=100)]
Region = Annotated[Line, StringConstraints(max_length=100)]
PostalCode = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9 -]{0,19}$"),
]
Country = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z]{2}$"),
    AfterValidator(_known_country),
    # The validator's message names the code; the document lists every code it takes.
    Field(
        description="ISO 3166-1 alpha-2 code, either case; stored upper-case",
        json_schema_extra={"pattern": _country_pattern(COUNTRY_CODES)},
    ),
]


class AddressCreate(Model):
    """A new address of the caller; `is_default` makes it the only default one."""

    label: Label | None = Field(default=None, description='e.g. "Home"')
    name: Recipient
    line1: AddressLine
    line2: AddressLine | None = None
    city: City
    postal_code: PostalCode
    region: Region | None = None
    country: Country
    phone: Phone | None = None
    is_default: bool = False


# Fields every address has: in an update they may be left out but not set to null.
_REQUIRED = ("name", "line1", "city", "postal_code", "country", "is_default")


class AddressUpdate(Model):
    """Changes to an address; fields left out stay as they are, null clears optional ones."""

    label: Label | None = None
    name: Recipient | SkipJsonSchema[None] = None
    line1: AddressLine | SkipJsonSchema[None] = None
    line2: AddressLine | None = None
    city: City | SkipJsonSchema[None] = None
    postal_code: PostalCode | SkipJsonSchema[None] = None
    region: Region | None = None
    country: Country | SkipJsonSchema[None] = None
    phone: Phone | None = None
    is_default: bool | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def _required_fields_not_null(self) -> Self:
        nulls = [f for f in _REQUIRED if f in self.model_fields_set and getattr(self, f) is None]
        if nulls:
            raise ValueError(", ".join(nulls) + " cannot be null")
        return self


class AddressRead(ReadModel):
    """An address as its owner sees it."""

    id: str
    label: str | None
    name: str
    line1: str
    line2: str | None
    city: str
    postal_code: str
    region: str | None
    country: str
    phone: str | None
    is_default: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class AddressList(Model):
    """Every address of the caller, oldest first; `next_cursor` is always null (at most 20)."""

    items: list[AddressRead]
    next_cursor: str | None = None
