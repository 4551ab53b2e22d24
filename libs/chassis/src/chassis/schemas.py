"""Pydantic building blocks every service's API uses."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _no_control_characters(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("control characters are not allowed")
    return value


# The same rules as patterns, so the OpenAPI document states them; the validators enforce
# them (pydantic's regex engine cannot take lone surrogates, which JSON can carry).
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
# Lone surrogates are left out of the patterns: JSON Schema strings are Unicode text, and
# tools cannot generate or match them (they are refused all the same).
_NOT_IN_A_LINE = r"\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
# At least one character that is not a space: a line is trimmed, then may not be empty.
LINE_PATTERN = rf"^[^{_NOT_IN_A_LINE}]*[^\s{_NOT_IN_A_LINE}][^{_NOT_IN_A_LINE}]*$"

# Text that databases accept as-is: no NUL or other control characters.
Text = Annotated[
    str,
    AfterValidator(_no_control_characters),
    Field(json_schema_extra={"pattern": TEXT_PATTERN}),
]

# Bidirectional overrides and isolates let a name display as something else.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _single_line(value: str) -> str:
    # Control characters break layouts and logs; lone surrogates cannot be stored as UTF-8.
    for char in value:
        if unicodedata.category(char) in ("Cc", "Cs") or char in _BIDI_CONTROLS:
            raise ValueError("control characters are not allowed")
    return value


def _normalized_email(value: object) -> object:
    # Before the length check: lower-casing can lengthen a string ("İ" becomes two characters).
    return value.strip().lower() if isinstance(value, str) else value


# Printable text on one line (names, titles), surrounding spaces removed, not empty.
Line = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1),
    AfterValidator(_single_line),
    Field(json_schema_extra={"pattern": LINE_PATTERN}),
]

# An email's shape, loosely: who can receive mail there is not for a regex to say.
# A person's name as shown to others: one line, at most 80 characters.
DisplayName = Annotated[Line, StringConstraints(max_length=80)]

EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$"
# What the document states: the same shape without the characters `_single_line` refuses.
_EMAIL_CHAR = rf"[^@\s{_NOT_IN_A_LINE}]"
EMAIL_DOCUMENTED_PATTERN = rf"^{_EMAIL_CHAR}{{1,64}}@{_EMAIL_CHAR}+\.{_EMAIL_CHAR}+$"
# Trimmed and lower-cased (how emails are stored and compared), then checked.
Email = Annotated[
    str,
    StringConstraints(max_length=254, pattern=EMAIL_PATTERN),
    AfterValidator(_single_line),
    BeforeValidator(_normalized_email),  # last, so it wraps the rest and runs first
    Field(json_schema_extra={"pattern": EMAIL_DOCUMENTED_PATTERN}),
]

# A `next_cursor` from an earlier page: itsdangerous' URL-safe payload (a leading dot
# when compressed), a dot, its signature. One that does not verify answers 400.
CURSOR_PATTERN = r"^\.?[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"
Cursor = Annotated[
    str,
    StringConstraints(max_length=1000, pattern=CURSOR_PATTERN),
    Field(description="`next_cursor` of the previous page"),
]

# Integers that fit a PostgreSQL INTEGER column.
Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]


class Model(BaseModel):
    """Base for request and response bodies: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class ReadModel(Model):
    """Base for response bodies read straight off an ORM object's attributes."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)


class Query(BaseModel):
    """Base for query strings: unknown parameters are ignored, as browsers add their own."""

    model_config = ConfigDict(extra="ignore")
