"""Money as every orders response shows it: integer minor units and an ISO currency."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from chassis.schemas import Model

Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]


class Money(Model):
    """An amount in minor units (cents) of a currency; never a float."""

    amount: Annotated[int, Field(ge=0)]
    currency: Currency


def money(amount: int, currency: str) -> Money:
    """Money from a stored amount and currency."""
    return Money(amount=amount, currency=currency)
