"""Pydantic building blocks every service's API uses."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _no_control_characters(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("control characters are not allowed")
    return value


# Text that databases accept as-is: no NUL or other control characters.
Text = Annotated[str, AfterValidator(_no_control_characters)]

# Integers that fit a PostgreSQL INTEGER column.
Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]


class Model(BaseModel):
    """Base for request and response bodies: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class Query(BaseModel):
    """Base for query strings: unknown parameters are ignored, as browsers add their own."""

    model_config = ConfigDict(extra="ignore")
