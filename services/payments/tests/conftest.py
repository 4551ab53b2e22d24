"""Payments test fixtures: an app per test inside a rolled-back transaction, on each backend."""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections.abc import Iterator
from typing import Any

import pytest
import stamina
from sqlalchemy import select
from sqlalchemy.orm import Session

from chassis.events import Event, handle_once, outbox_events
from chassis.registry import ServiceSpec
from chassis.testing import TokenMinter
from payments.cards import Card
from payments.charges.handlers import payment_handlers
from payments.methods.service import create_method
from payments.models import LedgerEntry, Payment, PaymentMethod
from payments.processor import AuthorizationOutcome, PaymentProcessor, RetryingProcessor
from payments.sandbox import APPROVED_CARD, SandboxProcessor
from payments.service import SERVICE

CUSTOMER, OTHER_CUSTOMER, ADMIN = "cust-1", "cust-2", "admin-1"
_sequence = itertools.count(1)


@pytest.fixture(scope="session")
def service_spec() -> ServiceSpec:
    """The service under test; chassis.testing builds its app, client and session."""
    return SERVICE


@pytest.fixture(scope="session", autouse=True)
def no_retry_waits() -> Iterator[None]:
    """Processor calls are still retried as configured, without the backoff sleeps."""
    with stamina.set_testing(True, attempts=10, cap=True):
        yield


@pytest.fixture
def customer(token_minter: TokenMinter) -> dict[str, str]:
    """Authorization header of the customer CUSTOMER."""
    return token_minter.auth(CUSTOMER, roles=("customer",))


@pytest.fixture
def other_customer(token_minter: TokenMinter) -> dict[str, str]:
    """Authorization header of another customer."""
    return token_minter.auth(OTHER_CUSTOMER, roles=("customer",))


@pytest.fixture
def admin(token_minter: TokenMinter) -> dict[str, str]:
    """Authorization header of an admin."""
    return token_minter.auth(ADMIN, roles=("admin",))


class RecordingSandbox(SandboxProcessor):
    """The sandbox, noting every call that reaches it (retries included)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str]] = []

    def count(self, operation: str) -> int:
        """How many calls of `operation` (authorize, capture...) reached the sandbox."""
        return sum(1 for name, _ in self.calls if name == operation)

    def authorize(self, **kwargs: Any) -> AuthorizationOutcome:
        """Note the call, then answer as the sandbox does."""
        self.calls.append(("authorize", kwargs["operation_key"]))
        return super().authorize(**kwargs)

    def capture(self, **kwargs: Any) -> str:
        """Note the call, then answer as the sandbox does."""
        self.calls.append(("capture", kwargs["operation_key"]))
        return super().capture(**kwargs)

    def void(self, **kwargs: Any) -> str:
        """Note the call, then answer as the sandbox does."""
        self.calls.append(("void", kwargs["operation_key"]))
        return super().void(**kwargs)

    def refund(self, **kwargs: Any) -> str:
        """Note the call, then answer as the sandbox does."""
        self.calls.append(("refund", kwargs["operation_key"]))
        return super().refund(**kwargs)


@pytest.fixture
def sandbox() -> RecordingSandbox:
    """A sandbox that notes the calls reaching it."""
    return RecordingSandbox()


@pytest.fixture
def processor(sandbox: RecordingSandbox) -> PaymentProcessor:
    """The sandbox behind retries, as the service builds it."""
    return RetryingProcessor(sandbox, attempts=3)


def future_year() -> int:
    """A year every test card is valid through."""
    return dt.datetime.now(dt.UTC).year + 3


def make_method(
    session: Session,
    customer_id: str = CUSTOMER,
    number: str = APPROVED_CARD,
    processor: PaymentProcessor | None = None,
) -> PaymentMethod:
    """Save a card the way POST /methods does."""
    card = Card(number=number, exp_month=12, exp_year=future_year(), cvc="123")
    method = create_method(
        session=session,
        processor=processor or SandboxProcessor(),
        customer_id=customer_id,
        card=card,
    )
    session.commit()
    return method


def new_order_id() -> str:
    """An order id no other test uses."""
    return f"ord-{next(_sequence)}-{os.getpid()}"


def payment_requested(
    method: PaymentMethod | str,
    *,
    order_id: str | None = None,
    customer_id: str = CUSTOMER,
    amount: int = 1999,
    currency: str = "EUR",
) -> Event:
    """An order.payment_requested event for `method` (an object, or any id)."""
    return Event.new(
        "order.payment_requested",
        {
            "order_id": order_id or new_order_id(),
            "customer_id": customer_id,
            "payment_method_id": method if isinstance(method, str) else method.id,
            "amount": {"amount": amount, "currency": currency},
        },
    )


def order_event(kind: str, order_id: str, customer_id: str = CUSTOMER) -> Event:
    """An order.shipped or order.cancelled event."""
    payload = {"order_id": order_id, "customer_id": customer_id}
    if kind == "order.cancelled":
        payload["reason"] = "customer changed their mind"
    return Event.new(kind, payload)


def deliver(session: Session, processor: PaymentProcessor, event: Event) -> bool:
    """Run the event's handler once as the worker does (inbox, handler, commit)."""
    handled = handle_once(session, event, payment_handlers(processor)[event.type])
    session.commit()
    return handled


def payment_of(session: Session, order_id: str) -> Payment | None:
    """The order's payment, fresh from the database."""
    session.expire_all()
    return session.scalar(select(Payment).where(Payment.order_id == order_id))


def ledger_kinds(session: Session, payment: Payment) -> list[str]:
    """The kinds of the payment's ledger entries, oldest first."""
    stmt = select(LedgerEntry.kind).where(LedgerEntry.payment_id == payment.id)
    return list(session.scalars(stmt.order_by(LedgerEntry.position)))


def published(session: Session, event_type: str) -> list[dict[str, Any]]:
    """Payloads of the outbox events of one type, oldest first."""
    return [event.payload for event in outbox_events(session, event_type=event_type)]
