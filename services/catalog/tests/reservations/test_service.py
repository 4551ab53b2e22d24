"""Reservation rules: all items or none, never below zero, one outcome per order."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from catalog.models import Product, Reservation, ReservationItem, ReservationStatus
from catalog.reservations.service import release_stock, reserve_stock
from chassis.events import outbox_events

from ..conftest import make_category, make_product, stock_of


@pytest.fixture
def products(session: Session) -> list[Product]:
    """Two products for sale, with 5 and 2 in stock."""
    category = make_category(session)
    return [make_product(session, category, stock=5), make_product(session, category, stock=2)]


def payloads(session: Session, event_type: str) -> list[dict[str, Any]]:
    """Payloads of the outbox events of one type, oldest first."""
    return [event.payload for event in outbox_events(session, event_type=event_type)]


def test_reserves_every_item_and_publishes_reserved_and_new_stock_levels(
    session: Session, products: list[Product]
) -> None:
    first, second = products
    reservation = reserve_stock(
        session=session, order_id="o-1", items=[(second.id, 2), (first.id, 3)]
    )
    assert reservation.status == ReservationStatus.RESERVED
    assert [(i.product_id, i.quantity) for i in reservation.items] == [
        (first.id, 3),
        (second.id, 2),
    ]
    assert (stock_of(session, first), stock_of(session, second)) == (2, 0)
    assert payloads(session, "stock.reserved") == [
        {
            "order_id": "o-1",
            "items": [
                {"product_id": first.id, "quantity": 3},
                {"product_id": second.id, "quantity": 2},
            ],
        }
    ]
    assert payloads(session, "stock.changed") == [
        {"product_id": first.id, "stock": 2},
        {"product_id": second.id, "stock": 0},
    ]
    assert payloads(session, "stock.rejected") == []


def test_one_short_item_rejects_the_whole_order_and_takes_nothing(
    session: Session, products: list[Product]
) -> None:
    first, second = products
    reservation = reserve_stock(
        session=session, order_id="o-1", items=[(first.id, 1), (second.id, 3)]
    )
    assert reservation.status == ReservationStatus.REJECTED
    assert reservation.items == []
    assert (stock_of(session, first), stock_of(session, second)) == (5, 2)
    assert payloads(session, "stock.rejected") == [
        {
            "order_id": "o-1",
            "reason": f"product {second.id} has 2 in stock, 3 wanted",
            "product_id": second.id,
        }
    ]
    assert payloads(session, "stock.reserved") == []
    assert payloads(session, "stock.changed") == []


@pytest.mark.parametrize(
    ("which", "reason"),
    [
        ("missing", "product {id} does not exist"),
        ("inactive", "product {id} is not for sale"),
        ("huge", "product {id} has 2 in stock, 2147483648 wanted"),
    ],
)
def test_missing_inactive_or_impossible_items_are_rejected(
    session: Session, products: list[Product], which: str, reason: str
) -> None:
    first, second = products
    product_id, quantity = second.id, 2**31
    if which == "missing":
        product_id, quantity = 2**40, 1
    elif which == "inactive":
        hidden = make_product(session, make_category(session), active=False, stock=9)
        product_id, quantity = hidden.id, 1
    reserve_stock(session=session, order_id="o-1", items=[(first.id, 1), (product_id, quantity)])
    assert stock_of(session, first) == 5
    [rejected] = payloads(session, "stock.rejected")
    assert rejected == {
        "order_id": "o-1",
        "reason": reason.format(id=product_id),
        "product_id": product_id,
    }


def test_stock_never_goes_below_zero(session: Session, products: list[Product]) -> None:
    _, second = products
    assert reserve_stock(session=session, order_id="o-1", items=[(second.id, 2)]).status == (
        ReservationStatus.RESERVED
    )
    rejected = reserve_stock(session=session, order_id="o-2", items=[(second.id, 1)])
    assert rejected.status == ReservationStatus.REJECTED
    assert rejected.reason == f"product {second.id} has 0 in stock, 1 wanted"
    assert stock_of(session, second) == 0


def test_repeated_lines_of_one_product_are_reserved_together(
    session: Session, products: list[Product]
) -> None:
    _, second = products
    reservation = reserve_stock(
        session=session, order_id="o-1", items=[(second.id, 1), (second.id, 1)]
    )
    assert [(i.product_id, i.quantity) for i in reservation.items] == [(second.id, 2)]
    assert stock_of(session, second) == 0
    # Together they ask for more than there is: all or nothing applies to the sum.
    assert reserve_stock(session=session, order_id="o-2", items=[(second.id, 1)] * 2).status == (
        ReservationStatus.REJECTED
    )


def test_a_second_reservation_for_the_same_order_changes_nothing(
    session: Session, products: list[Product]
) -> None:
    first, _ = products
    reserve_stock(session=session, order_id="o-1", items=[(first.id, 2)])
    again = reserve_stock(session=session, order_id="o-1", items=[(first.id, 3)])
    assert again.status == ReservationStatus.RESERVED
    assert [(i.product_id, i.quantity) for i in again.items] == [(first.id, 2)]
    assert stock_of(session, first) == 3
    assert len(payloads(session, "stock.reserved")) == 1
    assert len(payloads(session, "stock.changed")) == 1


def test_a_second_attempt_after_a_rejection_stays_rejected(
    session: Session, products: list[Product]
) -> None:
    first, _ = products
    reserve_stock(session=session, order_id="o-1", items=[(first.id, 6)])
    assert reserve_stock(session=session, order_id="o-1", items=[(first.id, 1)]).status == (
        ReservationStatus.REJECTED
    )
    assert stock_of(session, first) == 5
    assert len(payloads(session, "stock.rejected")) == 1


def test_release_gives_the_items_back_exactly_once(
    session: Session, products: list[Product]
) -> None:
    first, second = products
    reserve_stock(session=session, order_id="o-1", items=[(first.id, 4), (second.id, 1)])
    released = release_stock(session=session, order_id="o-1")
    assert released.status == ReservationStatus.RELEASED
    assert release_stock(session=session, order_id="o-1").status == ReservationStatus.RELEASED
    assert (stock_of(session, first), stock_of(session, second)) == (5, 2)
    assert payloads(session, "stock.released") == [
        {
            "order_id": "o-1",
            "items": [
                {"product_id": first.id, "quantity": 4},
                {"product_id": second.id, "quantity": 1},
            ],
        }
    ]
    assert payloads(session, "stock.changed")[-2:] == [
        {"product_id": first.id, "stock": 5},
        {"product_id": second.id, "stock": 2},
    ]
    # A late order.placed for a released order does not reserve it again.
    reserve_stock(session=session, order_id="o-1", items=[(first.id, 1)])
    assert stock_of(session, first) == 5


def test_release_returns_stock_to_a_product_deactivated_meanwhile(
    session: Session, products: list[Product]
) -> None:
    first, _ = products
    reserve_stock(session=session, order_id="o-1", items=[(first.id, 5)])
    first.active = False
    session.flush()
    release_stock(session=session, order_id="o-1")
    assert stock_of(session, first) == 5


def test_releasing_a_rejected_order_does_nothing(session: Session, products: list[Product]) -> None:
    first, _ = products
    reserve_stock(session=session, order_id="o-1", items=[(first.id, 6)])
    assert release_stock(session=session, order_id="o-1").status == ReservationStatus.REJECTED
    assert stock_of(session, first) == 5
    assert payloads(session, "stock.released") == []
    assert payloads(session, "stock.changed") == []


def test_cancel_before_placed_leaves_a_tombstone_and_the_late_order_takes_nothing(
    session: Session, products: list[Product]
) -> None:
    first, _ = products
    tombstone = release_stock(session=session, order_id="o-1")
    assert tombstone.status == ReservationStatus.CANCELLED
    assert payloads(session, "stock.released") == []

    late = reserve_stock(session=session, order_id="o-1", items=[(first.id, 1)])
    assert late.status == ReservationStatus.REJECTED
    assert stock_of(session, first) == 5
    assert payloads(session, "stock.rejected") == [
        {"order_id": "o-1", "reason": "order cancelled", "product_id": None}
    ]
    # The saga heard back once; later repeats stay silent.
    reserve_stock(session=session, order_id="o-1", items=[(first.id, 1)])
    release_stock(session=session, order_id="o-1")
    assert len(payloads(session, "stock.rejected")) == 1
    assert stock_of(session, first) == 5


def test_one_row_per_order_whatever_happens(session: Session, products: list[Product]) -> None:
    first, _ = products
    for _ in range(3):
        reserve_stock(session=session, order_id="o-1", items=[(first.id, 1)])
        release_stock(session=session, order_id="o-1")
    assert session.scalar(select(func.count()).select_from(Reservation)) == 1
    assert session.scalar(select(func.count()).select_from(ReservationItem)) == 1
    assert stock_of(session, first) == 5
