"""Event handlers: what payments does when orders moves an order along the saga.

Each runs inside `handle_once` (the inbox makes a redelivered event a no-op) and flushes;
the worker commits. Business outcomes are published as events; a processor that keeps
failing on a capture, void or refund raises, so the broker retries the event later.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from chassis.events import Event, Handler
from payments.charges import service
from payments.components import build_processor
from payments.processor import PaymentProcessor
from payments.settings import PaymentsSettings


def payment_handlers(processor: PaymentProcessor) -> dict[str, Handler]:
    """The handlers of every event payments consumes, calling `processor`."""

    def on_payment_requested(session: Session, event: Event) -> None:
        payload = event.payload
        request = service.PaymentRequest(
            order_id=payload["order_id"],
            customer_id=payload["customer_id"],
            payment_method_id=payload["payment_method_id"],
            amount=payload["amount"]["amount"],
            currency=payload["amount"]["currency"],
        )
        service.authorize_order(session=session, processor=processor, request=request)

    def on_order_shipped(session: Session, event: Event) -> None:
        service.capture_order(
            session=session, processor=processor, order_id=event.payload["order_id"]
        )

    def on_order_cancelled(session: Session, event: Event) -> None:
        service.cancel_order(
            session=session,
            processor=processor,
            order_id=event.payload["order_id"],
            reason=event.payload["reason"],
        )

    return {
        "order.payment_requested": on_payment_requested,
        "order.shipped": on_order_shipped,
        "order.cancelled": on_order_cancelled,
    }


def build_handlers(settings: PaymentsSettings) -> dict[str, Handler]:
    """The handlers `bazaar events worker payments` runs, with the configured processor."""
    return payment_handlers(build_processor(settings))
