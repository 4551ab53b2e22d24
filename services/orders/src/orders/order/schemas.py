"""Order request and response bodies."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field

from chassis.pagination import DEFAULT_LIMIT, MAX_LIMIT
from chassis.schemas import Cursor, Model, Query
from orders.models import Order, OrderStatus
from orders.money import Money, money
from orders.order.service import Actor, allowed_moves


class OrderItemRead(Model):
    """One line of an order as priced at checkout."""

    product_id: int
    sku: str
    name: str
    unit_price: Money
    quantity: int
    line_total: Money


class ShippingAddress(Model):
    """Where the order goes: a copy of the address taken at checkout."""

    name: str
    line1: str
    line2: str | None
    city: str
    postal_code: str
    region: str | None
    country: str
    phone: str | None


class HistoryEntry(Model):
    """One step in the order's life."""

    status: OrderStatus
    note: str
    at: dt.datetime


class OrderRead(Model):
    """An order as its customer (or an admin) sees it."""

    id: Annotated[str, Field(examples=["ord_5f0c6d2a9b3e4f1a2b3c4d5e"])]
    status: OrderStatus
    items: list[OrderItemRead]
    subtotal: Money
    total: Money
    currency: str
    shipping_address: ShippingAddress
    payment_method_id: str
    cancel_reason: str | None
    history: list[HistoryEntry]
    allowed_transitions: Annotated[
        list[OrderStatus],
        Field(description="The statuses the caller may move the order to now."),
    ]
    created_at: dt.datetime
    updated_at: dt.datetime


class OrderPage(Model):
    """One page of orders, newest first; pass `next_cursor` back as `cursor` for the next one."""

    items: list[OrderRead]
    next_cursor: str | None


class OrderQuery(Query):
    """Paging for the order list; admins may ask for everyone's orders."""

    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT
    cursor: Cursor | None = None
    all: Annotated[bool, Field(description="Everyone's orders (admins only).")] = False
    status: OrderStatus | None = None


class StatusChange(Model):
    """What an admin moves an order to."""

    status: Literal["SHIPPED", "DELIVERED"]


def order_read(order: Order, *, actor: Actor) -> OrderRead:
    """The public shape of an order, with the moves open to `actor`."""
    status = OrderStatus(order.status)
    return OrderRead(
        id=order.id,
        status=status,
        items=[
            OrderItemRead(
                product_id=item.product_id,
                sku=item.sku,
                name=item.name,
                unit_price=money(item.unit_price_amount, order.currency),
                quantity=item.quantity,
                line_total=money(item.line_total_amount, order.currency),
            )
            for item in order.items
        ],
        subtotal=money(order.subtotal_amount, order.currency),
        total=money(order.total_amount, order.currency),
        currency=order.currency,
        shipping_address=ShippingAddress.model_validate(order.shipping_address),
        payment_method_id=order.payment_method_id,
        cancel_reason=order.cancel_reason,
        history=[
            HistoryEntry(status=OrderStatus(h.status), note=h.note, at=h.at) for h in order.history
        ],
        allowed_transitions=allowed_moves(status, actor),
        created_at=order.created_at,
        updated_at=order.updated_at,
    )
