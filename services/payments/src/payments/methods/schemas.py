"""Payment method request and response bodies."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field, ValidationInfo, field_validator

from chassis.schemas import Model, ReadModel
from payments.cards import expired, luhn_valid, normalize_number


def _card_number(raw: str) -> str:
    # Messages never echo the input: a typo'd card number must not reach a log or response.
    digits = normalize_number(raw)
    if not luhn_valid(digits):
        raise ValueError("not a valid card number (the Luhn check fails)")
    return digits


CardNumber = Annotated[
    str,
    Field(
        min_length=12,
        max_length=40,
        pattern=r"^[0-9](?:[ -]*[0-9]){11,18}$",
        repr=False,
        description="12 to 19 digits passing the Luhn check; spaces and dashes are ignored",
        examples=["4242 4242 4242 4242"],
    ),
    AfterValidator(_card_number),
]
Cvc = Annotated[str, Field(pattern=r"^[0-9]{3,4}$", repr=False, examples=["123"])]
ExpMonth = Annotated[int, Field(ge=1, le=12)]
ExpYear = Annotated[int, Field(ge=2000, le=2100, description="four digits")]


def _unexpired_in_schema(schema: dict[str, Any]) -> None:
    # Cards work through their expiry month: this year from this month on, or a later
    # year. Stated as of the day the document is built.
    today = dt.datetime.now(dt.UTC).date()
    schema["properties"]["exp_year"]["minimum"] = today.year
    schema["not"] = {
        "required": ["exp_year", "exp_month"],
        "properties": {
            "exp_year": {"maximum": today.year},
            "exp_month": {"maximum": today.month - 1},
        },
    }


class MethodCreate(Model):
    """A card to save: it is tokenized at once; only brand, last 4 and expiry are kept."""

    model_config = ConfigDict(json_schema_extra=_unexpired_in_schema)

    card_number: CardNumber
    exp_month: ExpMonth
    exp_year: ExpYear
    cvc: Cvc

    @field_validator("exp_year")
    @classmethod
    def _not_expired(cls, exp_year: int, info: ValidationInfo) -> int:
        # On the year, so the error names a field; the month is validated first.
        exp_month = info.data.get("exp_month")
        if exp_month is not None and expired(exp_month, exp_year):
            raise ValueError("the card has expired")
        return exp_year


class MethodRead(ReadModel):
    """A saved card as its owner sees it."""

    id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    created_at: dt.datetime


class MethodList(Model):
    """The caller's saved cards, oldest first."""

    items: list[MethodRead]
