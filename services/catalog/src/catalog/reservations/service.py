"""Stock reservations for whole orders: all items or none, never below zero, once per order.

Plain functions over a session; they flush and publish into the caller's transaction, the
caller (the event worker, through `handle_once`) commits. Every outcome is stored as a
`Reservation` row keyed by order id, so a second event about the same order, whatever its
event id, finds that row and changes nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from catalog.models import Product, Reservation, ReservationItem, ReservationStatus
from catalog.products.service import MAX_ID, publish_stock_changed
from chassis.db import utcnow
from chassis.events import publish

CANCELLED_BEFORE_PLACED = "order cancelled"


@dataclass(frozen=True)
class Shortfall:
    """Why one item of an order cannot be reserved."""

    product_id: int
    reason: str


def _merged(items: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    # One line per product, in id order: every transaction then locks product rows in the
    # same order, so two orders sharing products cannot deadlock on PostgreSQL.
    totals: Counter[int] = Counter()
    for product_id, quantity in items:
        totals[product_id] += quantity
    return sorted(totals.items())


def _locked(session: Session, order_id: str) -> Reservation | None:
    # FOR UPDATE serialises events about one order on PostgreSQL (SQLite has one writer);
    # populate_existing so a row changed by a transaction we waited for is read afresh.
    return session.scalar(
        select(Reservation)
        .where(Reservation.order_id == order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _claim(session: Session, order_id: str, status: ReservationStatus) -> tuple[Reservation, bool]:
    """The order's reservation row, and whether this call created it with `status`."""
    existing = _locked(session, order_id)
    if existing is not None:
        return existing, False
    reservation = Reservation(order_id=order_id, status=status)
    try:
        with session.begin_nested():
            session.add(reservation)
    except IntegrityError:
        # A concurrent event about this order inserted the row first; our insert waited for
        # its commit, so the row is visible now and we act on it instead.
        existing = _locked(session, order_id)
        if existing is None:
            raise
        return existing, False
    return reservation, True


def _take(session: Session, product_id: int, quantity: int) -> int | None:
    """Take `quantity` units if the product is for sale and has them; the new stock or None."""
    if not (0 < product_id <= MAX_ID and 0 < quantity <= MAX_ID):
        return None  # cannot exist in an INTEGER column: nothing to match
    # One conditional statement: the check and the decrement happen under the row lock, so
    # concurrent orders can never take the last unit twice.
    new_stock: int | None = session.execute(
        update(Product)
        .where(Product.id == product_id, Product.active.is_(True), Product.stock >= quantity)
        .values(stock=Product.stock - quantity, updated_at=utcnow())
        .returning(Product.stock)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    return new_stock


def _shortfall(session: Session, product_id: int, quantity: int) -> Shortfall:
    # populate_existing: a Product already in the session may predate the bulk updates.
    product = (
        session.get(Product, product_id, populate_existing=True)
        if 0 < product_id <= MAX_ID
        else None
    )
    if product is None:
        return Shortfall(product_id, f"product {product_id} does not exist")
    if not product.active:
        return Shortfall(product_id, f"product {product_id} is not for sale")
    return Shortfall(
        product_id, f"product {product_id} has {product.stock} in stock, {quantity} wanted"
    )


def _items_payload(items: Iterable[ReservationItem]) -> list[dict[str, int]]:
    return [{"product_id": i.product_id, "quantity": i.quantity} for i in items]


def _reject(session: Session, reservation: Reservation, shortfall: Shortfall | None) -> None:
    reservation.status = ReservationStatus.REJECTED
    reservation.reason = shortfall.reason if shortfall else CANCELLED_BEFORE_PLACED
    session.flush()
    publish(
        session,
        "stock.rejected",
        {
            "order_id": reservation.order_id,
            "reason": reservation.reason,
            "product_id": shortfall.product_id if shortfall else None,
        },
    )


def reserve_stock(
    *, session: Session, order_id: str, items: Iterable[tuple[int, int]]
) -> Reservation:
    """Reserve every (product_id, quantity) of an order, or nothing; publish the outcome.

    A known order is left as it is (a tombstone of an early cancel becomes a rejection, so
    the saga hears back).
    """
    reservation, created = _claim(session, order_id, ReservationStatus.RESERVED)
    if not created:
        if reservation.status == ReservationStatus.CANCELLED:
            _reject(session, reservation, None)
        return reservation
    wanted = _merged(items)
    levels: dict[int, int] = {}
    shortfall: Shortfall | None = None
    savepoint = session.begin_nested()
    for product_id, quantity in wanted:
        new_stock = _take(session, product_id, quantity)
        if new_stock is None:
            shortfall = _shortfall(session, product_id, quantity)
            break
        levels[product_id] = new_stock
    if shortfall is not None:
        savepoint.rollback()  # gives back what the earlier items took: all or nothing
        _reject(session, reservation, shortfall)
        return reservation
    savepoint.commit()
    reservation.items = [ReservationItem(product_id=p, quantity=q) for p, q in wanted]
    session.flush()
    publish(
        session,
        "stock.reserved",
        {"order_id": order_id, "items": _items_payload(reservation.items)},
    )
    for product_id, stock in levels.items():
        publish_stock_changed(session, product_id=product_id, stock=stock)
    return reservation


def release_stock(*, session: Session, order_id: str) -> Reservation:
    """Give a cancelled order's reserved items back to stock, once; publish what was released.

    Rejected or released orders are left alone; an unknown order gets a tombstone so that
    an order.placed arriving later takes nothing.
    """
    reservation, created = _claim(session, order_id, ReservationStatus.CANCELLED)
    if created or reservation.status != ReservationStatus.RESERVED:
        return reservation
    levels: dict[int, int] = {}
    for item in reservation.items:  # already in product id order: same lock order as reserve
        levels[item.product_id] = session.execute(
            update(Product)
            .where(Product.id == item.product_id)
            .values(stock=Product.stock + item.quantity, updated_at=utcnow())
            .returning(Product.stock)
            .execution_options(synchronize_session=False)
        ).scalar_one()
    reservation.status = ReservationStatus.RELEASED
    session.flush()
    publish(
        session,
        "stock.released",
        {"order_id": order_id, "items": _items_payload(reservation.items)},
    )
    for product_id, stock in levels.items():
        publish_stock_changed(session, product_id=product_id, stock=stock)
    return reservation
