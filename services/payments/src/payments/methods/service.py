"""Payment method operations: plain functions over a session; they flush, the caller commits."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chassis.errors import Conflict, NotFound, ValidationFailed
from chassis.logging import get_logger
from payments.cards import Card
from payments.models import PaymentMethod, has_id_shape, new_id
from payments.processor import (
    PaymentProcessor,
    ProcessorError,
    ProcessorUnavailable,
    TransientProcessorError,
)

MAX_METHODS_PER_CUSTOMER = 20
log = get_logger(__name__)


class PaymentMethodNotFound(NotFound):
    """No such payment method among the caller's (another's is not theirs to know of)."""

    slug, title = "payment-method-not-found", "Payment method not found"


class TooManyPaymentMethods(Conflict):
    """The customer keeps the maximum number of cards already."""

    slug, title = "too-many-payment-methods", "Too many payment methods"


class CardRefused(ValidationFailed):
    """The processor would not tokenize the card."""

    slug, title = "card-refused", "Card refused"


def list_methods(*, session: Session, customer_id: str) -> list[PaymentMethod]:
    """A customer's saved cards, oldest first."""
    stmt = select(PaymentMethod).where(PaymentMethod.customer_id == customer_id)
    return list(session.scalars(stmt.order_by(PaymentMethod.created_at, PaymentMethod.id)))


def find_method(*, session: Session, customer_id: str, method_id: str) -> PaymentMethod | None:
    """A customer's saved card, or None when missing or someone else's."""
    if not has_id_shape(method_id, "pm"):
        return None
    method = session.get(PaymentMethod, method_id)
    return method if method is not None and method.customer_id == customer_id else None


def get_method(*, session: Session, customer_id: str, method_id: str) -> PaymentMethod:
    """A customer's saved card; 404 when missing or someone else's."""
    method = find_method(session=session, customer_id=customer_id, method_id=method_id)
    if method is None:
        raise PaymentMethodNotFound(f"No payment method with id {method_id!r}.")
    return method


def create_method(
    *, session: Session, processor: PaymentProcessor, customer_id: str, card: Card
) -> PaymentMethod:
    """Tokenize a card and keep the token; 409 beyond the per-customer maximum."""
    # A soft limit: two racing requests may both pass the count, which costs nothing.
    count = session.scalar(
        select(func.count())
        .select_from(PaymentMethod)
        .where(PaymentMethod.customer_id == customer_id)
    )
    if (count or 0) >= MAX_METHODS_PER_CUSTOMER:
        raise TooManyPaymentMethods(
            f"A customer can keep at most {MAX_METHODS_PER_CUSTOMER} cards; delete one first.",
            extra={"limit": MAX_METHODS_PER_CUSTOMER},
        )
    try:
        token = processor.tokenize(card)
    except TransientProcessorError as exc:
        raise ProcessorUnavailable("The card processor is not answering; try again.") from exc
    except ProcessorError as exc:
        raise CardRefused("The card processor refused this card.") from exc
    method = PaymentMethod(
        id=new_id("pm"),
        customer_id=customer_id,
        processor_token=token.token,
        brand=token.brand,
        last4=token.last4,
        exp_month=card.exp_month,
        exp_year=card.exp_year,
    )
    session.add(method)
    session.flush()
    log.info("payment method saved", payment_method_id=method.id, brand=method.brand)
    return method


def delete_method(*, session: Session, customer_id: str, method_id: str) -> None:
    """Forget a saved card; payments made with it keep their brand and last 4."""
    method = get_method(session=session, customer_id=customer_id, method_id=method_id)
    session.delete(method)
    session.flush()
