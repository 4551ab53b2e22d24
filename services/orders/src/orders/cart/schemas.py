"""Cart request and response bodies."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictInt

from chassis.schemas import Model
from orders.models import MAX_QUANTITY, Cart
from orders.money import Money, money


class CartLine(Model):
    """A product in the cart, with the name and price seen when it was last set."""

    product_id: int
    name: str
    unit_price: Money
    quantity: int
    line_total: Money


class CartRead(Model):
    """The caller's cart; `total` and `currency` are null while it is empty."""

    items: list[CartLine]
    total: Money | None
    currency: str | None
    item_count: Annotated[int, Field(description="Units in the cart: the sum of quantities.")]


class QuantityUpdate(Model):
    """How many of a product the cart should hold."""

    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY)]


def cart_read(cart: Cart | None) -> CartRead:
    """The public shape of a cart (an absent one is empty)."""
    items = cart.items if cart is not None else []
    if not items:
        return CartRead(items=[], total=None, currency=None, item_count=0)
    currency = items[0].currency
    lines = [
        CartLine(
            product_id=item.product_id,
            name=item.name,
            unit_price=money(item.unit_price_amount, item.currency),
            quantity=item.quantity,
            line_total=money(item.unit_price_amount * item.quantity, item.currency),
        )
        for item in items
    ]
    return CartRead(
        items=lines,
        total=money(sum(line.line_total.amount for line in lines), currency),
        currency=currency,
        item_count=sum(item.quantity for item in items),
    )
