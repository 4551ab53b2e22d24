"""Orders after checkout: reading them, and the one function that moves them between statuses.

Plain functions over a session; they flush, the caller (a request or an event handler)
commits. Every change appends a history row, bumps the order's version (what the status
stream watches) and publishes its event in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from chassis.db import utcnow
from chassis.errors import Conflict, NotFound
from chassis.events import Event, publish
from chassis.pagination import CursorCodec, Page, SortKey, keyset_page
from orders.models import Order, OrderHistory, OrderStatus

ORDER_ID = re.compile(r"^ord_[0-9a-f]{24}$")
NEWEST = SortKey("newest", ((Order.created_at, True), (Order.id, True)))


class Actor(enum.StrEnum):
    """Who asks for a move: the saga and watchdog, the order's customer, or an admin."""

    SYSTEM = "system"
    CUSTOMER = "customer"
    ADMIN = "admin"


S = OrderStatus
# Every move an order can make, and who may make it. Anything not listed is illegal.
ALLOWED_MOVES: dict[tuple[OrderStatus, OrderStatus], frozenset[Actor]] = {
    (S.PENDING, S.CONFIRMED): frozenset({Actor.SYSTEM}),
    (S.PENDING, S.CANCELLED): frozenset({Actor.SYSTEM, Actor.CUSTOMER, Actor.ADMIN}),
    (S.CONFIRMED, S.CANCELLED): frozenset({Actor.CUSTOMER, Actor.ADMIN}),
    (S.CONFIRMED, S.SHIPPED): frozenset({Actor.ADMIN}),
    (S.SHIPPED, S.DELIVERED): frozenset({Actor.ADMIN}),
}
# What the rest of the platform hears about each move.
EVENT_OF = {
    S.CONFIRMED: "order.confirmed",
    S.CANCELLED: "order.cancelled",
    S.SHIPPED: "order.shipped",
    S.DELIVERED: "order.delivered",
}


class OrderNotFound(NotFound):
    """No such order, or it belongs to someone else (who must not learn that it exists)."""

    slug, title = "order-not-found", "Order not found"


class IllegalTransition(Conflict):
    """The order cannot move to the requested status from where it is, or not by this caller."""

    slug, title = "illegal-transition", "Illegal status transition"


def allowed_moves(status: OrderStatus, actor: Actor) -> list[OrderStatus]:
    """The statuses `actor` may move an order in `status` to."""
    return [to for (frm, to), actors in ALLOWED_MOVES.items() if frm is status and actor in actors]


def record(order: Order, note: str) -> None:
    """Append a history row for the order's current status and mark the order changed."""
    now = utcnow()
    order.history.append(OrderHistory(status=order.status, note=note, at=now))
    order.version = (order.version or 0) + 1
    order.updated_at = now


def transition(
    session: Session, order: Order, to: OrderStatus, *, actor: Actor, note: str
) -> Event:
    """Move `order` to `to` if the table allows it for `actor`; record it and publish it.

    For CANCELLED, `note` is the reason the customer and the other services see.
    """
    current = OrderStatus(order.status)
    if actor not in ALLOWED_MOVES.get((current, to), frozenset()):
        raise IllegalTransition(
            f"An order that is {current} cannot become {to}.",
            extra={"order_status": current.value, "requested_status": to.value},
        )
    order.status = to
    payload: dict[str, Any] = {"order_id": order.id, "customer_id": order.customer_id}
    if to is OrderStatus.CANCELLED:
        order.cancel_reason = note
        payload["reason"] = note
    record(order, note)
    event = publish(session, EVENT_OF[to], payload)
    session.flush()
    return event


def find_order(session: Session, order_id: str, *, lock: bool = False) -> Order | None:
    """An order by id, or None; `lock` holds its row until the transaction ends.

    The lock serialises the saga, the watchdog and the customer on one order (PostgreSQL;
    SQLite serialises every writer anyway), and `populate_existing` makes sure the status
    checked afterwards is the one just read, not a stale copy from the session.
    """
    if not ORDER_ID.match(order_id):
        return None
    stmt = select(Order).where(Order.id == order_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return session.scalars(stmt).one_or_none()


def get_order(
    *, session: Session, order_id: str, customer_id: str, actor: Actor, lock: bool = False
) -> Order:
    """An order its customer or an admin may see; 404 for anyone else."""
    order = find_order(session, order_id, lock=lock)
    if order is None or (actor is not Actor.ADMIN and order.customer_id != customer_id):
        raise OrderNotFound(f"No order with id {order_id}.")
    return order


def list_orders(
    *,
    session: Session,
    codec: CursorCodec,
    customer_id: str | None,
    status: OrderStatus | None,
    cursor: str | None,
    limit: int,
) -> Page:
    """Orders newest first, one keyset page at a time; everyone's when `customer_id` is None."""
    stmt: Select[Any] = select(Order)
    if customer_id is not None:
        stmt = stmt.where(Order.customer_id == customer_id)
    if status is not None:
        stmt = stmt.where(Order.status == status)
    return keyset_page(
        session,
        stmt,
        sort=NEWEST,
        codec=codec,
        cursor=cursor,
        limit=limit,
        key_of=lambda order: [order.created_at, order.id],
        types=(dt.datetime, str),
    )


def cancel_order(*, session: Session, order_id: str, customer_id: str, actor: Actor) -> Order:
    """Cancel before shipping, as the customer or an admin; 409 once shipped or final."""
    order = get_order(
        session=session, order_id=order_id, customer_id=customer_id, actor=actor, lock=True
    )
    by_customer = order.customer_id == customer_id
    reason = "cancelled by customer" if by_customer else "cancelled by an administrator"
    transition(session, order, OrderStatus.CANCELLED, actor=actor, note=reason)
    return order


def advance_order(*, session: Session, order_id: str, to: OrderStatus) -> Order:
    """An admin ships a confirmed order or marks a shipped one delivered."""
    order = find_order(session, order_id, lock=True)
    if order is None:
        raise OrderNotFound(f"No order with id {order_id}.")
    note = {OrderStatus.SHIPPED: "shipped", OrderStatus.DELIVERED: "delivered"}.get(to, to.lower())
    transition(session, order, to, actor=Actor.ADMIN, note=note)
    return order
