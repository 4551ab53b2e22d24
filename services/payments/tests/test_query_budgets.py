"""Query budgets: how many SQL statements the payment handlers run, so a regression fails.

Exact counts, as Saleor's query-count tests keep them: a change that adds a statement (or
saves one) updates the number here, on purpose and in review. Transaction control (BEGIN,
COMMIT, SAVEPOINT) is left out: it depends on the driver and on the tests' savepoints.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from chassis.testing import count_queries
from payments.processor import PaymentProcessor

from .conftest import deliver, make_method, order_event, payment_requested


def postgresql_only(session: Session) -> int:
    """PostgreSQL's two more: the order's advisory lock, and the NOTIFY that wakes the relay."""
    return 2 if session.get_bind().dialect.name == "postgresql" else 0


def test_authorizing_a_payment(session: Session, processor: PaymentProcessor) -> None:
    event = payment_requested(make_method(session))
    with count_queries(session.get_bind().engine) as queries:
        assert deliver(session, processor, event)
    # Inbox claim; the order's payment, cancellation and method; payment, ledger entry,
    # `payment.authorized`.
    assert queries.count == 7 + postgresql_only(session), queries.report()


def test_capturing_a_payment(session: Session, processor: PaymentProcessor) -> None:
    event = payment_requested(make_method(session))
    deliver(session, processor, event)
    shipped = order_event("order.shipped", str(event.payload["order_id"]))
    with count_queries(session.get_bind().engine) as queries:
        assert deliver(session, processor, shipped)
    # Inbox claim; the payment; ledger entry, payment update, `payment.captured`.
    assert queries.count == 5 + postgresql_only(session), queries.report()
