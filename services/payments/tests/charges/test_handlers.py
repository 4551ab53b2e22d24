"""The saga's events: each handler's effect, once, however often its event arrives."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chassis.events import ContractViolation, Event, outbox_events
from payments.charges.service import refund_payment
from payments.models import CancelledOrder, LedgerEntry, Payment
from payments.processor import PaymentProcessor, RetryingProcessor, TransientProcessorError
from payments.sandbox import (
    DECLINED_CARD,
    FLAKY_CARD,
    INSUFFICIENT_FUNDS_CARD,
    SandboxProcessor,
)
from payments.service import SERVICE
from payments.settings import PaymentsSettings

from ..conftest import (
    OTHER_CUSTOMER,
    RecordingSandbox,
    deliver,
    ledger_kinds,
    make_method,
    new_order_id,
    order_event,
    payment_of,
    payment_requested,
    published,
)


def count(session: Session, model: Any) -> int:
    """Rows in a table."""
    return session.scalar(select(func.count()).select_from(model)) or 0


def authorized_order(session: Session, processor: PaymentProcessor, number: str = "") -> str:
    """An order whose payment is authorized; returns its id."""
    method = make_method(session, **({"number": number} if number else {}))
    event = payment_requested(method)
    deliver(session, processor, event)
    return str(event.payload["order_id"])


def captured_order(session: Session, processor: PaymentProcessor, number: str = "") -> str:
    """An order whose payment is authorized and captured; returns its id."""
    order_id = authorized_order(session, processor, number)
    deliver(session, processor, order_event("order.shipped", order_id))
    return order_id


def test_the_event_worker_runs_these_handlers() -> None:
    assert SERVICE.events is not None and SERVICE.events.handlers is not None
    handlers = SERVICE.events.handlers(PaymentsSettings(env="test"))
    assert set(handlers) == {"order.payment_requested", "order.shipped", "order.cancelled"}


# -- order.payment_requested -------------------------------------------------------------


def test_payment_request_authorizes_the_amount(
    session: Session, processor: PaymentProcessor
) -> None:
    method = make_method(session)
    event = payment_requested(method, amount=4250, currency="USD")
    assert deliver(session, processor, event)
    payment = payment_of(session, event.payload["order_id"])
    assert payment is not None
    assert (payment.status, payment.amount, payment.currency) == ("authorized", 4250, "USD")
    assert (payment.brand, payment.last4, payment.payment_method_id) == ("visa", "4242", method.id)
    assert ledger_kinds(session, payment) == ["authorize"]
    entry = session.scalar(select(LedgerEntry))
    assert entry is not None
    assert entry.operation_key == f"{payment.order_id}:authorize"
    assert published(session, "payment.authorized") == [
        {"order_id": payment.order_id, "payment_id": payment.id,
         "amount": {"amount": 4250, "currency": "USD"}}
    ]  # fmt: skip
    assert published(session, "payment.declined") == []


def test_published_outcome_carries_the_requests_correlation(
    session: Session, processor: PaymentProcessor
) -> None:
    event = payment_requested(make_method(session))
    deliver(session, processor, event)
    [outcome] = outbox_events(session, event_type="payment.authorized")
    assert outcome.correlation_id == event.correlation_id


@pytest.mark.parametrize(
    ("number", "code"),
    [(DECLINED_CARD, "card_declined"), (INSUFFICIENT_FUNDS_CARD, "insufficient_funds")],
)
def test_a_declined_card_publishes_its_decline(
    session: Session, processor: PaymentProcessor, number: str, code: str
) -> None:
    event = payment_requested(make_method(session, number=number))
    deliver(session, processor, event)
    payment = payment_of(session, event.payload["order_id"])
    assert payment is not None
    assert (payment.status, payment.decline_code) == ("declined", code)
    assert ledger_kinds(session, payment) == ["decline"]
    [declined] = published(session, "payment.declined")
    assert declined["payment_id"] == payment.id
    assert declined["code"] == code
    assert published(session, "payment.authorized") == []


def test_the_flaky_card_is_retried_to_an_authorization(
    session: Session, sandbox: RecordingSandbox, processor: PaymentProcessor
) -> None:
    event = payment_requested(make_method(session, number=FLAKY_CARD))
    deliver(session, processor, event)
    payment = payment_of(session, event.payload["order_id"])
    assert payment is not None
    assert payment.status == "authorized"
    assert sandbox.count("authorize") == 3  # two transient failures, then success
    assert {key for _, key in sandbox.calls} == {f"{payment.order_id}:authorize"}
    assert ledger_kinds(session, payment) == ["authorize"]


def test_retries_exhausted_is_a_processing_error_decline(
    session: Session, sandbox: RecordingSandbox
) -> None:
    impatient = RetryingProcessor(sandbox, attempts=2)
    event = payment_requested(make_method(session, number=FLAKY_CARD))
    deliver(session, impatient, event)
    payment = payment_of(session, event.payload["order_id"])
    assert payment is not None
    assert (payment.status, payment.decline_code) == ("declined", "processing_error")
    assert [d["code"] for d in published(session, "payment.declined")] == ["processing_error"]


@pytest.mark.parametrize("whose", ["unknown", "another customer's", "malformed"])
def test_a_method_the_customer_does_not_own_is_declined_without_a_payment(
    session: Session, sandbox: RecordingSandbox, processor: PaymentProcessor, whose: str
) -> None:
    method_id = {
        "unknown": "pm_" + "0" * 24,
        "another customer's": make_method(session, OTHER_CUSTOMER).id,
        "malformed": "pm_\x00",
    }[whose]
    event = payment_requested(method_id)
    deliver(session, processor, event)
    assert count(session, Payment) == 0
    assert published(session, "payment.declined") == [
        {"order_id": event.payload["order_id"], "payment_id": None,
         "code": "payment_method_not_found", "message": "The customer has no such payment method."}
    ]  # fmt: skip
    assert sandbox.count("authorize") == 0


def test_a_redelivered_request_has_one_effect(
    session: Session, sandbox: RecordingSandbox, processor: PaymentProcessor
) -> None:
    event = payment_requested(make_method(session))
    assert deliver(session, processor, event) is True
    assert deliver(session, processor, event) is False
    assert count(session, Payment) == 1
    assert count(session, LedgerEntry) == 1
    assert len(published(session, "payment.authorized")) == 1
    assert sandbox.count("authorize") == 1


@pytest.mark.parametrize("number", ["", DECLINED_CARD])
def test_a_second_request_for_the_same_order_charges_nothing(
    session: Session, sandbox: RecordingSandbox, processor: PaymentProcessor, number: str
) -> None:
    method = make_method(session, **({"number": number} if number else {}))
    first = payment_requested(method)
    again = payment_requested(method, order_id=first.payload["order_id"], amount=99_999)
    assert first.id != again.id
    deliver(session, processor, first)
    assert deliver(session, processor, again) is True  # handled, to no effect
    assert count(session, Payment) == 1
    assert count(session, LedgerEntry) == 1
    assert sandbox.count("authorize") == 1
    payment = payment_of(session, first.payload["order_id"])
    assert payment is not None and payment.amount == 1999
    outcomes = published(session, "payment.authorized") + published(session, "payment.declined")
    assert len(outcomes) == 1


def test_a_request_after_the_cancellation_is_declined(
    session: Session, sandbox: RecordingSandbox, processor: PaymentProcessor
) -> None:
    method = make_method(session)
    order_id = new_order_id()
    deliver(session, processor, order_event("order.cancelled", order_id))
    assert session.get(CancelledOrder, order_id) is not None
    deliver(session, processor, payment_requested(method, order_id=order_id))
    assert count(session, Payment) == 0
    [declined] = published(session, "payment.declined")
    assert (declined["code"], declined["payment_id"]) == ("order_cancelled", None)
    assert sandbox.count("authorize") == 0


# -- order.shipped -----------------------------------------------------------------------


def test_shipping_captures_the_authorization(session: Session, processor: PaymentProcessor) -> None:
    order_id = authorized_order(session, processor)
    deliver(session, processor, order_event("order.shipped", order_id))
    payment = payment_of(session, order_id)
    assert payment is not None
    assert (payment.status, payment.captured_amount) == ("captured", 1999)
    assert ledger_kinds(session, payment) == ["authorize", "capture"]
    assert published(session, "payment.captured") == [
        {"order_id": order_id, "payment_id": payment.id,
         "amount": {"amount": 1999, "currency": "EUR"}}
    ]  # fmt: skip


def test_shipped_twice_captures_once(
    session: Session, sandbox: RecordingSandbox, processor: PaymentProcessor
) -> None:
    order_id = authorized_order(session, processor)
    shipped = order_event("order.shipped", order_id)
    deliver(session, processor, shipped)
    assert deliver(session, processor, shipped) is False
    deliver(session, processor, order_event("order.shipped", order_id))
    assert sandbox.count("capture") == 1
    assert len(published(session, "payment.captured")) == 1
    payment = payment_of(session, order_id)
    assert payment is not None
    assert ledger_kinds(session, payment) == ["authorize", "capture"]


def test_the_flaky_card_is_retried_to_a_capture(
    session: Session, sandbox: RecordingSandbox, processor: PaymentProcessor
) -> None:
    order_id = captured_order(session, processor, FLAKY_CARD)
    payment = payment_of(session, order_id)
    assert payment is not None and payment.status == "captured"
    assert sandbox.count("capture") == 3


def test_a_capture_the_processor_keeps_failing_raises_for_redelivery(
    session: Session, processor: PaymentProcessor
) -> None:
    order_id = authorized_order(session, processor)

    class Down(SandboxProcessor):
        def capture(self, **kwargs: Any) -> str:
            raise TransientProcessorError("down")

    shipped = order_event("order.shipped", order_id)
    with pytest.raises(TransientProcessorError):
        deliver(session, RetryingProcessor(Down(), attempts=2), shipped)
    session.rollback()  # what the worker does; the broker redelivers later
    assert deliver(session, processor, shipped) is True
    payment = payment_of(session, order_id)
    assert payment is not None and payment.status == "captured"


@pytest.mark.parametrize("state", ["no payment", "declined"])
def test_shipping_without_an_authorization_captures_nothing(
    session: Session, processor: PaymentProcessor, state: str
) -> None:
    order_id = new_order_id()
    if state == "declined":
        method = make_method(session, number=DECLINED_CARD)
        deliver(session, processor, payment_requested(method, order_id=order_id))
    deliver(session, processor, order_event("order.shipped", order_id))
    assert published(session, "payment.captured") == []


# -- order.cancelled ---------------------------------------------------------------------


def test_cancelling_an_authorized_order_voids_it_once(
    session: Session, sandbox: RecordingSandbox, processor: PaymentProcessor
) -> None:
    order_id = authorized_order(session, processor)
    cancelled = order_event("order.cancelled", order_id)
    deliver(session, processor, cancelled)
    assert deliver(session, processor, cancelled) is False
    deliver(session, processor, order_event("order.cancelled", order_id))
    payment = payment_of(session, order_id)
    assert payment is not None
    assert payment.status == "voided"
    assert ledger_kinds(session, payment) == ["authorize", "void"]
    assert published(session, "payment.voided") == [
        {"order_id": order_id, "payment_id": payment.id}
    ]
    assert sandbox.count("void") == 1


def test_cancelling_a_captured_order_refunds_everything_once(
    session: Session, sandbox: RecordingSandbox, processor: PaymentProcessor
) -> None:
    order_id = captured_order(session, processor)
    cancelled = order_event("order.cancelled", order_id)
    deliver(session, processor, cancelled)
    deliver(session, processor, cancelled)
    deliver(session, processor, order_event("order.cancelled", order_id))
    payment = payment_of(session, order_id)
    assert payment is not None
    assert (payment.status, payment.refunded_amount) == ("refunded", 1999)
    assert ledger_kinds(session, payment) == ["authorize", "capture", "refund"]
    [refunded] = published(session, "payment.refunded")
    refund = session.scalar(select(LedgerEntry).where(LedgerEntry.kind == "refund"))
    assert refund is not None
    assert refund.reason == "customer changed their mind"
    assert refunded == {"order_id": order_id, "payment_id": payment.id, "refund_id": refund.id,
                        "amount": {"amount": 1999, "currency": "EUR"}}  # fmt: skip
    assert sandbox.count("refund") == 1


def test_cancelling_after_a_partial_refund_refunds_the_rest(
    session: Session, processor: PaymentProcessor
) -> None:
    order_id = captured_order(session, processor)
    payment = payment_of(session, order_id)
    assert payment is not None
    refund_payment(session=session, processor=processor, payment_id=payment.id, amount=500,
                   reason=None, request_key="admin-refund")  # fmt: skip
    session.commit()
    deliver(session, processor, order_event("order.cancelled", order_id))
    payment = payment_of(session, order_id)
    assert payment is not None
    assert (payment.status, payment.refunded_amount) == ("refunded", 1999)
    amounts = [p["amount"]["amount"] for p in published(session, "payment.refunded")]
    assert amounts == [500, 1499]


@pytest.mark.parametrize("number", [DECLINED_CARD, INSUFFICIENT_FUNDS_CARD])
def test_cancelling_a_declined_order_moves_no_money(
    session: Session, processor: PaymentProcessor, number: str
) -> None:
    method = make_method(session, number=number)
    event = payment_requested(method)
    deliver(session, processor, event)
    deliver(session, processor, order_event("order.cancelled", event.payload["order_id"]))
    assert published(session, "payment.voided") == published(session, "payment.refunded") == []
    assert count(session, LedgerEntry) == 1


def test_a_cancellation_without_a_payment_leaves_one_tombstone(
    session: Session, processor: PaymentProcessor
) -> None:
    order_id = new_order_id()
    for _ in range(2):
        deliver(session, processor, order_event("order.cancelled", order_id))
    assert count(session, CancelledOrder) == 1
    assert count(session, Payment) == 0
    assert published(session, "payment.voided") == []


def test_every_event_is_checked_against_its_contract(
    session: Session, processor: PaymentProcessor
) -> None:
    broken = Event.new("order.shipped", {"order_id": "x"})
    with pytest.raises(ContractViolation):
        deliver(session, processor, broken)
