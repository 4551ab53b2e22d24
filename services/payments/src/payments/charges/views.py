"""Payment endpoints: an order's payment for its customer or an admin, refunds for admins."""

from __future__ import annotations

import hashlib
from typing import Any

from apiflask import APIBlueprint
from flask import request, url_for

from chassis.flaskapp import db_session, require_principal, require_role
from chassis.idempotency import HEADER as IDEMPOTENCY_HEADER
from chassis.idempotency import idempotent
from payments.access import caller_id, caller_is_admin, signed_in
from payments.charges import service
from payments.charges.schemas import (
    LedgerEntryRead,
    Money,
    PaymentQuery,
    PaymentRead,
    RefundCreate,
    RefundRead,
)
from payments.components import current_processor
from payments.models import LedgerEntry, Payment

bp = APIBlueprint("charges", __name__, tag="Payments")


def render(payment: Payment) -> PaymentRead:
    """The shape of a payment in every response."""
    return PaymentRead(
        id=payment.id,
        order_id=payment.order_id,
        customer_id=payment.customer_id,
        payment_method_id=payment.payment_method_id,
        status=payment.status,  # validated: the table's check allows no other
        amount=Money(amount=payment.amount, currency=payment.currency),
        captured=Money(amount=payment.captured_amount, currency=payment.currency),
        refunded=Money(amount=payment.refunded_amount, currency=payment.currency),
        brand=payment.brand,
        last4=payment.last4,
        decline_code=payment.decline_code,
        ledger=[render_entry(entry) for entry in payment.ledger],
        created_at=payment.created_at,
        updated_at=payment.updated_at,
    )


def render_entry(entry: LedgerEntry) -> LedgerEntryRead:
    """The shape of a ledger entry."""
    return LedgerEntryRead(
        id=entry.id,
        kind=entry.kind,  # validated: the table's check allows no other
        amount=Money(amount=entry.amount, currency=entry.currency),
        reason=entry.reason,
        created_at=entry.created_at,
    )


@bp.get("/payments")
@signed_in
@bp.input(PaymentQuery, location="query", arg_name="query")
@bp.output(PaymentRead)
def get_payment_of_order(query: PaymentQuery) -> PaymentRead:
    """The payment of an order, for its customer or an admin; 404 for anyone else."""
    payment = service.get_payment_of_order(
        session=db_session(),
        order_id=query.order_id,
        viewer_id=caller_id(),
        is_admin=caller_is_admin(),
    )
    return render(payment)


@bp.get("/payments/<string:payment_id>")
@signed_in
@bp.output(PaymentRead)
def get_payment(payment_id: str) -> PaymentRead:
    """One payment, for its customer or an admin; 404 for anyone else."""
    payment = service.get_payment(
        session=db_session(),
        payment_id=payment_id,
        viewer_id=caller_id(),
        is_admin=caller_is_admin(),
    )
    return render(payment)


@bp.post("/payments/<string:payment_id>/refunds")
@require_role("admin")
@idempotent()
@bp.input(RefundCreate, arg_name="body")
@bp.output(RefundRead, status_code=201)
def refund_payment(payment_id: str, body: RefundCreate) -> Any:
    """Refund captured money (admin): all that is left, or `amount`; needs an Idempotency-Key."""
    # The same request retried is the same refund at the processor and in the ledger.
    caller_key = f"{require_principal().subject}\n{request.headers[IDEMPOTENCY_HEADER]}"
    entry = service.refund_payment(
        session=db_session(),
        processor=current_processor(),
        payment_id=payment_id,
        amount=body.amount,
        reason=body.reason,
        request_key=hashlib.sha256(caller_key.encode()).hexdigest()[:32],
    )
    refund = RefundRead(
        id=entry.id,
        payment_id=entry.payment_id,
        order_id=entry.payment.order_id,
        amount=Money(amount=entry.amount, currency=entry.currency),
        reason=entry.reason,
        created_at=entry.created_at,
    )
    location = url_for("charges.get_payment", payment_id=entry.payment_id)
    return refund, 201, {"Location": location}
