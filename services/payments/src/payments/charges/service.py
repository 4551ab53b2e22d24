"""Payments of orders: authorize, capture, void, refund; plain functions that flush, never commit.

Each operation on the processor carries an operation key derived from the order
(`<order_id>:authorize`, `<order_id>:capture`, ...), is recorded once in the ledger under
that key, and publishes its outcome event in the same transaction. Work on one order is
serialised by a per-order lock, so a cancellation cannot slip between an authorization's
checks and its effects.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chassis import tracing
from chassis.errors import BadGateway, Conflict, NotFound
from chassis.events import publish
from chassis.logging import get_logger
from payments.methods.service import find_method
from payments.models import CancelledOrder, LedgerEntry, Payment, has_id_shape, new_id
from payments.processor import (
    Approval,
    PaymentProcessor,
    ProcessorError,
    ProcessorUnavailable,
    TransientProcessorError,
)

log = get_logger(__name__)
REFUNDABLE = ("captured", "partially_refunded")


class PaymentNotFound(NotFound):
    """No such payment, or not the caller's to see."""

    slug, title = "payment-not-found", "Payment not found"


class PaymentNotCaptured(Conflict):
    """Only captured money can be refunded; this payment has none."""

    slug, title = "payment-not-captured", "Payment not captured"


class RefundExceedsCaptured(Conflict):
    """The refund is more than what was captured and not yet refunded."""

    slug, title = "refund-exceeds-captured", "Refund exceeds the refundable amount"


class ProcessorFailed(BadGateway):
    """The processor refused the operation outright."""

    slug, title = "processor-error", "Card processor error"


@dataclass(frozen=True)
class PaymentRequest:
    """What `order.payment_requested` asks for."""

    order_id: str
    customer_id: str
    payment_method_id: str
    amount: int
    currency: str


# -- reading -----------------------------------------------------------------------------


def get_payment(*, session: Session, payment_id: str, viewer_id: str, is_admin: bool) -> Payment:
    """A payment its customer or an admin asks for; anyone else gets the unknown id's 404."""
    payment = session.get(Payment, payment_id) if has_id_shape(payment_id, "pay") else None
    if payment is None or not (is_admin or payment.customer_id == viewer_id):
        raise PaymentNotFound(f"No payment with id {payment_id!r}.")
    return payment


def get_payment_of_order(
    *, session: Session, order_id: str, viewer_id: str, is_admin: bool
) -> Payment:
    """An order's payment for its customer or an admin; 404 otherwise."""
    payment = _payment_of(session, order_id)
    if payment is None or not (is_admin or payment.customer_id == viewer_id):
        raise PaymentNotFound(f"No payment for order {order_id!r}.")
    return payment


# -- the saga's steps --------------------------------------------------------------------


def authorize_order(
    *, session: Session, processor: PaymentProcessor, request: PaymentRequest
) -> None:
    """Authorize an order's total once; publish payment.authorized or payment.declined.

    A second request for an order that has a payment (redelivered, or sent again) changes
    nothing and publishes nothing: its outcome was published with the first.
    """
    order_id = request.order_id
    _lock_order(session, order_id)
    if _payment_of(session, order_id) is not None:
        log.info("payment already requested for this order", order_id=order_id)
        return
    if session.get(CancelledOrder, order_id) is not None:
        message = "The order was cancelled before it was paid."
        _publish_declined(session, order_id, None, "order_cancelled", message)
        return
    method = find_method(
        session=session, customer_id=request.customer_id, method_id=request.payment_method_id
    )
    if method is None:
        message = "The customer has no such payment method."
        _publish_declined(session, order_id, None, "payment_method_not_found", message)
        return
    key = f"{order_id}:authorize"
    outcome = _authorize_at_processor(processor, method.processor_token, request, key)
    refusal = outcome if isinstance(outcome, Refusal) else None
    payment = Payment(
        id=new_id("pay"),
        order_id=order_id,
        customer_id=request.customer_id,
        payment_method_id=method.id,
        status="declined" if refusal else "authorized",
        amount=request.amount,
        currency=request.currency,
        captured_amount=0,
        refunded_amount=0,
        brand=method.brand,
        last4=method.last4,
        authorization_reference=outcome.reference if isinstance(outcome, Approval) else None,
        decline_code=refusal.code if refusal else None,
    )
    session.add(payment)
    session.flush()
    if refusal:
        _record(session, payment, "decline", request.amount, key, None)
        _publish_declined(session, order_id, payment.id, refusal.code, refusal.message)
        return
    _record(session, payment, "authorize", request.amount, key, payment.authorization_reference)
    payload = {"order_id": order_id, "payment_id": payment.id, "amount": _money(payment)}
    publish(session, "payment.authorized", payload)
    log.info("payment authorized", order_id=order_id, payment_id=payment.id)


def capture_order(*, session: Session, processor: PaymentProcessor, order_id: str) -> None:
    """Capture an order's authorization in full; publish payment.captured. Idempotent.

    A transient processor failure raises, so the event is redelivered and tried again.
    """
    _lock_order(session, order_id)
    payment = _payment_of(session, order_id)
    if payment is None or payment.status != "authorized":
        # Captured already (a second event) is routine; anything else is worth a look.
        if payment is not None and payment.captured_amount:
            log.info("payment already captured", order_id=order_id, payment_id=payment.id)
        else:
            status = payment.status if payment is not None else None
            log.warning("no authorization to capture", order_id=order_id, status=status)
        return
    key = f"{order_id}:capture"
    reference = processor.capture(
        authorization=_authorization(payment),
        amount=payment.amount,
        currency=payment.currency,
        operation_key=key,
    )
    payment.status, payment.captured_amount = "captured", payment.amount
    _record(session, payment, "capture", payment.amount, key, reference)
    payload = {"order_id": order_id, "payment_id": payment.id, "amount": _money(payment)}
    publish(session, "payment.captured", payload)


def cancel_order(
    *, session: Session, processor: PaymentProcessor, order_id: str, reason: str
) -> None:
    """Void an authorization or refund what was captured; remember the cancellation. Idempotent.

    The tombstone makes a payment request that arrives after the cancellation a decline.
    """
    _lock_order(session, order_id)
    if session.get(CancelledOrder, order_id) is None:
        session.add(CancelledOrder(order_id=order_id, reason=reason[:500]))
        session.flush()
    payment = _payment_of(session, order_id)
    if payment is None:
        return
    if payment.status == "authorized":
        key = f"{order_id}:void"
        reference = processor.void(authorization=_authorization(payment), operation_key=key)
        payment.status = "voided"
        _record(session, payment, "void", payment.amount, key, reference)
        publish(session, "payment.voided", {"order_id": order_id, "payment_id": payment.id})
    elif payment.status in REFUNDABLE:
        rest = payment.captured_amount - payment.refunded_amount
        key = f"{order_id}:refund:cancellation"
        _refund(session, processor, payment, amount=rest, key=key, reason=reason)


def refund_payment(
    *,
    session: Session,
    processor: PaymentProcessor,
    payment_id: str,
    amount: int | None,
    reason: str | None,
    request_key: str,
) -> LedgerEntry:
    """Refund captured money (all that is left unless `amount` says less); 409 beyond it.

    `request_key` names the caller's request, so a retry of it is the same operation at
    the processor and in the ledger.
    """
    payment = session.get(Payment, payment_id) if has_id_shape(payment_id, "pay") else None
    if payment is None:
        raise PaymentNotFound(f"No payment with id {payment_id!r}.")
    _lock_order(session, payment.order_id)
    session.refresh(payment)  # what the lock's previous holder committed
    key = f"{payment.order_id}:refund:{request_key}"
    done = session.scalar(select(LedgerEntry).where(LedgerEntry.operation_key == key))
    if done is not None:
        return done
    if payment.status not in (*REFUNDABLE, "refunded"):
        raise PaymentNotCaptured(
            f"Payment {payment.id} is {payment.status}: only captured money can be refunded."
        )
    refundable = payment.captured_amount - payment.refunded_amount
    amount = refundable if amount is None else amount
    if amount > refundable or amount == 0:
        raise RefundExceedsCaptured(
            f"At most {refundable} {payment.currency} of this payment can be refunded.",
            extra={"refundable": _money(payment, refundable)},
        )
    try:
        return _refund(session, processor, payment, amount=amount, key=key, reason=reason)
    except TransientProcessorError as exc:
        raise ProcessorUnavailable("The card processor is not answering; try again.") from exc
    except ProcessorError as exc:
        raise ProcessorFailed("The card processor refused the refund.") from exc


# -- internals ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """Why an authorization failed, in the codes of the payment.declined contract."""

    code: str
    message: str


def _authorize_at_processor(
    processor: PaymentProcessor, token: str, request: PaymentRequest, key: str
) -> Approval | Refusal:
    try:
        outcome = processor.authorize(
            token=token, amount=request.amount, currency=request.currency, operation_key=key
        )
    except ProcessorError as exc:
        # Retries are spent (or the processor refused outright): the order cannot wait.
        log.warning("processor failed to authorize", order_id=request.order_id, error=str(exc))
        return Refusal("processing_error", "The card processor failed; nothing was charged.")
    if isinstance(outcome, Approval):
        return outcome
    return Refusal(outcome.code, outcome.message)


def _refund(
    session: Session,
    processor: PaymentProcessor,
    payment: Payment,
    *,
    amount: int,
    key: str,
    reason: str | None,
) -> LedgerEntry:
    reference = processor.refund(
        authorization=_authorization(payment),
        amount=amount,
        currency=payment.currency,
        operation_key=key,
    )
    payment.refunded_amount += amount
    full = payment.refunded_amount == payment.captured_amount
    payment.status = "refunded" if full else "partially_refunded"
    entry = _record(session, payment, "refund", amount, key, reference, reason=reason)
    payload = {
        "order_id": payment.order_id,
        "payment_id": payment.id,
        "refund_id": entry.id,
        "amount": _money(payment, amount),
    }
    publish(session, "payment.refunded", payload)
    log.info("payment refunded", payment_id=payment.id, refund_id=entry.id, amount=amount)
    return entry


def _lock_order(session: Session, order_id: str) -> None:
    """Hold the order's lock until commit: its payment's steps never interleave.

    PostgreSQL: a transaction-scoped advisory lock. SQLite already lets one writer at a
    time through, and every handler writes its inbox row first.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.sha256(f"payments:order:{order_id}".encode()).digest()
    session.execute(select(func.pg_advisory_xact_lock(int.from_bytes(digest[:8], signed=True))))


def _payment_of(session: Session, order_id: str) -> Payment | None:
    return session.scalar(select(Payment).where(Payment.order_id == order_id))


def _authorization(payment: Payment) -> str:
    if payment.authorization_reference is None:
        raise ProcessorError(f"Payment {payment.id} has no authorization.")
    return payment.authorization_reference


def _record(
    session: Session,
    payment: Payment,
    kind: str,
    amount: int,
    key: str,
    reference: str | None,
    *,
    reason: str | None = None,
) -> LedgerEntry:
    entry = LedgerEntry(
        id=new_id("re" if kind == "refund" else "le"),
        payment_id=payment.id,
        kind=kind,
        amount=amount,
        currency=payment.currency,
        operation_key=key,
        processor_reference=reference,
        reason=reason,
    )
    session.add(entry)
    session.flush()
    return entry


def _money(payment: Payment, amount: int | None = None) -> dict[str, Any]:
    return {"amount": payment.amount if amount is None else amount, "currency": payment.currency}


def _publish_declined(
    session: Session, order_id: str, payment_id: str | None, code: str, message: str
) -> None:
    payload = {"order_id": order_id, "payment_id": payment_id, "code": code, "message": message}
    publish(session, "payment.declined", payload)
    log.info("payment declined", order_id=order_id, payment_id=payment_id, code=code)
    tracing.record_error(f"payment declined: {code}: {message}")
