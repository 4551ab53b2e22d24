"""Payment operations called directly, for what the HTTP layer would otherwise hide."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from payments.charges.service import refund_payment
from payments.models import LedgerEntry
from payments.processor import PaymentProcessor

from ..conftest import (
    RecordingSandbox,
    deliver,
    make_method,
    order_event,
    payment_of,
    payment_requested,
)


def test_a_refund_retried_with_its_key_is_recorded_once(
    session: Session, sandbox: RecordingSandbox, processor: PaymentProcessor
) -> None:
    # The HTTP idempotency record normally answers a retry; the ledger's key is the backstop.
    event = payment_requested(make_method(session))
    order_id = event.payload["order_id"]
    deliver(session, processor, event)
    deliver(session, processor, order_event("order.shipped", order_id))
    payment = payment_of(session, order_id)
    assert payment is not None
    kwargs = {"amount": 100, "reason": None, "request_key": "same-request"}
    first = refund_payment(session=session, processor=processor, payment_id=payment.id, **kwargs)
    again = refund_payment(session=session, processor=processor, payment_id=payment.id, **kwargs)
    assert again.id == first.id
    refunds = select(func.count()).where(LedgerEntry.kind == "refund")
    assert session.scalar(refunds) == 1
    assert sandbox.count("refund") == 1
    assert payment.refunded_amount == 100
