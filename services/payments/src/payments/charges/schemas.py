"""Payment and refund request and response bodies (the /payments resource)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field

from chassis.schemas import Model, Query, Text

MAX_AMOUNT = 2**31 - 1

Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]
PaymentStatus = Literal[
    "authorized", "declined", "captured", "voided", "refunded", "partially_refunded"
]
LedgerKind = Literal["authorize", "decline", "capture", "void", "refund"]


class Money(Model):
    """An amount in minor units (cents) of a currency; never a float."""

    amount: Annotated[int, Field(ge=0, le=MAX_AMOUNT)]
    currency: Currency


class LedgerEntryRead(Model):
    """One operation on the processor, as the ledger recorded it."""

    id: str
    kind: LedgerKind
    amount: Money
    reason: str | None
    created_at: dt.datetime


class PaymentRead(Model):
    """One order's payment, its running totals and its ledger (oldest entry first)."""

    id: str
    order_id: str
    customer_id: str
    payment_method_id: str
    status: PaymentStatus
    amount: Money
    captured: Money
    refunded: Money
    brand: str
    last4: str
    decline_code: str | None
    ledger: list[LedgerEntryRead]
    created_at: dt.datetime
    updated_at: dt.datetime


class PaymentQuery(Query):
    """Which order's payment to find."""

    order_id: Annotated[Text, Field(min_length=1, max_length=64)]


class RefundCreate(Model):
    """Give captured money back (admin); without an amount, all that is left."""

    # Strict: money is a JSON integer, not a string that looks like one.
    amount: Annotated[int | None, Field(ge=1, le=MAX_AMOUNT, strict=True)] = None
    reason: Annotated[Text | None, Field(min_length=1, max_length=500)] = None


class RefundRead(Model):
    """A refund: the ledger entry that recorded it."""

    id: str
    payment_id: str
    order_id: str
    amount: Money
    reason: str | None
    created_at: dt.datetime
