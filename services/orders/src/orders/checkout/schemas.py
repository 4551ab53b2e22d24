"""Checkout request body."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from chassis.schemas import Model

# Ids of other services are opaque to us; this shape keeps them safe inside a URL path.
ForeignId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class CheckoutRequest(Model):
    """Where to ship the cart and how to pay: ids of the caller's address and payment method."""

    address_id: ForeignId
    payment_method_id: ForeignId
