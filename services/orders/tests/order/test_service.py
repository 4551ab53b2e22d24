"""The transition table: every legal move, every illegal one, and who may make them."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy.orm import Session

from chassis.events import outbox_events
from orders.models import OrderStatus
from orders.order.service import (
    ALLOWED_MOVES,
    Actor,
    IllegalTransition,
    allowed_moves,
    transition,
)

from ..conftest import make_order

S = OrderStatus


def test_the_table_is_the_saga_of_the_architecture() -> None:
    assert {
        (S.PENDING, S.CONFIRMED): {Actor.SYSTEM},
        (S.PENDING, S.CANCELLED): {Actor.SYSTEM, Actor.CUSTOMER, Actor.ADMIN},
        (S.CONFIRMED, S.CANCELLED): {Actor.CUSTOMER, Actor.ADMIN},
        (S.CONFIRMED, S.SHIPPED): {Actor.ADMIN},
        (S.SHIPPED, S.DELIVERED): {Actor.ADMIN},
    } == ALLOWED_MOVES


def test_final_statuses_allow_nothing() -> None:
    for status, actor in itertools.product((S.CANCELLED, S.DELIVERED), Actor):
        assert allowed_moves(status, actor) == []


def test_transition_follows_the_table_exactly(session: Session) -> None:
    for frm, to, actor in itertools.product(OrderStatus, OrderStatus, Actor):
        order = make_order(session, status=frm)
        published = len(outbox_events(session))
        if actor in ALLOWED_MOVES.get((frm, to), ()):
            transition(session, order, to, actor=actor, note="why")
            assert order.status == to
            assert (order.history[-1].status, order.history[-1].note) == (to, "why")
            assert order.version == 2
            assert len(outbox_events(session)) == published + 1
        else:
            with pytest.raises(IllegalTransition):
                transition(session, order, to, actor=actor, note="why")
            assert (order.status, len(order.history)) == (frm, 1)
            assert len(outbox_events(session)) == published
