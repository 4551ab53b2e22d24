"""The payments API: reading a payment (owner or admin) and refunds (admin, idempotent)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from chassis.testing import problem_of
from payments.components import EXTENSION
from payments.models import LedgerEntry, Payment
from payments.processor import PaymentProcessor, ProcessorError, TransientProcessorError
from payments.sandbox import DECLINED_CARD, SandboxProcessor

from ..conftest import (
    deliver,
    make_method,
    order_event,
    payment_of,
    payment_requested,
    published,
)


def paid_order(
    session: Session, processor: PaymentProcessor, *, ship: bool = True, number: str = ""
) -> Payment:
    """An order of 19.99 EUR paid by CUSTOMER (captured unless `ship` is False)."""
    method = make_method(session, **({"number": number} if number else {}))
    event = payment_requested(method)
    deliver(session, processor, event)
    if ship:
        deliver(session, processor, order_event("order.shipped", event.payload["order_id"]))
    payment = payment_of(session, event.payload["order_id"])
    assert payment is not None
    return payment


def refund(
    client: FlaskClient,
    payment: Payment,
    headers: dict[str, str],
    body: dict[str, Any] | None = None,
    key: str | None = None,
) -> Any:
    """POST a refund with a fresh (or the given) Idempotency-Key."""
    return client.post(
        f"/payments/{payment.id}/refunds",
        json=body if body is not None else {},
        headers={**headers, "Idempotency-Key": key or str(uuid.uuid4())},
    )


# -- reading -----------------------------------------------------------------------------


def test_the_customer_reads_their_payment_with_its_ledger(
    client: FlaskClient, session: Session, processor: PaymentProcessor, customer: dict[str, str]
) -> None:
    payment = paid_order(session, processor)
    body = client.get(f"/payments/{payment.id}", headers=customer).get_json()
    assert re.fullmatch(r"pay_[0-9a-f]{24}", body["id"])
    assert body["order_id"] == payment.order_id
    assert body["status"] == "captured"
    assert body["amount"] == body["captured"] == {"amount": 1999, "currency": "EUR"}
    assert body["refunded"] == {"amount": 0, "currency": "EUR"}
    assert (body["brand"], body["last4"], body["decline_code"]) == ("visa", "4242", None)
    assert [e["kind"] for e in body["ledger"]] == ["authorize", "capture"]
    assert body["ledger"][0]["amount"] == {"amount": 1999, "currency": "EUR"}
    by_order = client.get(f"/payments?order_id={payment.order_id}", headers=customer)
    assert by_order.get_json() == body


def test_a_declined_payment_shows_its_code(
    client: FlaskClient, session: Session, processor: PaymentProcessor, customer: dict[str, str]
) -> None:
    payment = paid_order(session, processor, ship=False, number=DECLINED_CARD)
    body = client.get(f"/payments/{payment.id}", headers=customer).get_json()
    assert (body["status"], body["decline_code"]) == ("declined", "card_declined")
    assert [e["kind"] for e in body["ledger"]] == ["decline"]


def test_an_admin_reads_any_payment(
    client: FlaskClient, session: Session, processor: PaymentProcessor, admin: dict[str, str]
) -> None:
    payment = paid_order(session, processor)
    assert client.get(f"/payments/{payment.id}", headers=admin).status_code == 200
    response = client.get(f"/payments?order_id={payment.order_id}", headers=admin)
    assert response.get_json()["id"] == payment.id


def test_another_customer_gets_404(
    client: FlaskClient,
    session: Session,
    processor: PaymentProcessor,
    other_customer: dict[str, str],
) -> None:
    payment = paid_order(session, processor)
    problem_of(client.get(f"/payments/{payment.id}", headers=other_customer), 404,
               "payment-not-found")  # fmt: skip
    problem_of(client.get(f"/payments?order_id={payment.order_id}", headers=other_customer), 404,
               "payment-not-found")  # fmt: skip


@pytest.mark.parametrize(
    "path",
    ["/payments/pay_" + "0" * 24, "/payments/nope", "/payments/pay_%00",
     "/payments?order_id=unknown", "/payments?order_id=" + "x" * 64],
)  # fmt: skip
def test_unknown_payments_are_404(client: FlaskClient, admin: dict[str, str], path: str) -> None:
    problem_of(client.get(path, headers=admin), 404, "payment-not-found")


@pytest.mark.parametrize("query", ["", "?order_id=", "?order_id=%00", "?order_id=" + "x" * 65])
def test_a_bad_order_id_is_400(client: FlaskClient, admin: dict[str, str], query: str) -> None:
    problem_of(client.get(f"/payments{query}", headers=admin), 400, "invalid-parameter")


def test_payments_need_a_token(client: FlaskClient) -> None:
    problem_of(client.get("/payments?order_id=x"), 401)
    problem_of(client.get("/payments/pay_" + "0" * 24), 401)


# -- refunds -----------------------------------------------------------------------------


def test_an_admin_refunds_everything_by_default(
    client: FlaskClient, session: Session, processor: PaymentProcessor, admin: dict[str, str]
) -> None:
    payment = paid_order(session, processor)
    response = refund(client, payment, admin, {"reason": "damaged in transit"})
    assert response.status_code == 201
    body = response.get_json()
    assert re.fullmatch(r"re_[0-9a-f]{24}", body["id"])
    assert body["amount"] == {"amount": 1999, "currency": "EUR"}
    assert (body["payment_id"], body["order_id"]) == (payment.id, payment.order_id)
    assert body["reason"] == "damaged in transit"
    assert response.headers["Location"] == f"/payments/{payment.id}"
    after = client.get(f"/payments/{payment.id}", headers=admin).get_json()
    assert after["status"] == "refunded"
    assert after["refunded"] == {"amount": 1999, "currency": "EUR"}
    assert after["ledger"][-1]["id"] == body["id"]
    assert [p["refund_id"] for p in published(session, "payment.refunded")] == [body["id"]]


def test_partial_refunds_add_up_to_the_captured_amount_and_no_more(
    client: FlaskClient, session: Session, processor: PaymentProcessor, admin: dict[str, str]
) -> None:
    payment = paid_order(session, processor)
    assert refund(client, payment, admin, {"amount": 1000}).status_code == 201
    status = client.get(f"/payments/{payment.id}", headers=admin).get_json()["status"]
    assert status == "partially_refunded"
    too_much = problem_of(refund(client, payment, admin, {"amount": 1000}), 409,
                          "refund-exceeds-captured")  # fmt: skip
    assert too_much["refundable"] == {"amount": 999, "currency": "EUR"}
    rest = refund(client, payment, admin).get_json()
    assert rest["amount"]["amount"] == 999
    problem_of(refund(client, payment, admin), 409, "refund-exceeds-captured")
    problem_of(refund(client, payment, admin, {"amount": 1}), 409, "refund-exceeds-captured")
    session.expire_all()
    kinds = session.scalars(select(LedgerEntry.kind).where(LedgerEntry.payment_id == payment.id))
    assert list(kinds).count("refund") == 2


def test_only_captured_money_is_refunded(
    client: FlaskClient, session: Session, processor: PaymentProcessor, admin: dict[str, str]
) -> None:
    authorized = paid_order(session, processor, ship=False)
    problem_of(refund(client, authorized, admin), 409, "payment-not-captured")
    declined = paid_order(session, processor, ship=False, number=DECLINED_CARD)
    problem_of(refund(client, declined, admin, {"amount": 1}), 409, "payment-not-captured")
    assert published(session, "payment.refunded") == []


def test_a_replayed_refund_refunds_once(
    client: FlaskClient, session: Session, processor: PaymentProcessor, admin: dict[str, str]
) -> None:
    payment = paid_order(session, processor)
    first = refund(client, payment, admin, {"amount": 300}, key="refund-1")
    again = refund(client, payment, admin, {"amount": 300}, key="refund-1")
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert len(published(session, "payment.refunded")) == 1
    reused = refund(client, payment, admin, {"amount": 400}, key="refund-1")
    problem_of(reused, 422, "idempotency-key-reused")


def test_a_refund_needs_an_idempotency_key(
    client: FlaskClient, session: Session, processor: PaymentProcessor, admin: dict[str, str]
) -> None:
    payment = paid_order(session, processor)
    response = client.post(f"/payments/{payment.id}/refunds", json={}, headers=admin)
    problem_of(response, 400, "idempotency-key-missing")


def test_refunds_are_for_admins(
    client: FlaskClient,
    session: Session,
    processor: PaymentProcessor,
    customer: dict[str, str],
) -> None:
    payment = paid_order(session, processor)
    problem_of(refund(client, payment, customer), 403, "forbidden")
    problem_of(refund(client, payment, {}), 401)


@pytest.mark.parametrize(
    "body",
    [{"amount": 0}, {"amount": -5}, {"amount": 10.5}, {"amount": "10"}, {"reason": ""},
     {"reason": "x" * 501}, {"reason": "nul\x00"}, {"currency": "EUR"}],
)  # fmt: skip
def test_invalid_refund_bodies_are_422(
    client: FlaskClient,
    session: Session,
    processor: PaymentProcessor,
    admin: dict[str, str],
    body: dict[str, Any],
) -> None:
    payment = paid_order(session, processor)
    problem_of(refund(client, payment, admin, body), 422, "validation-error")


def test_refunding_an_unknown_payment_is_404(client: FlaskClient, admin: dict[str, str]) -> None:
    response = client.post(
        "/payments/pay_" + "0" * 24 + "/refunds",
        json={},
        headers={**admin, "Idempotency-Key": "k"},
    )
    problem_of(response, 404, "payment-not-found")


def test_a_processor_that_keeps_failing_is_503_and_nothing_is_refunded(
    app: Flask,
    client: FlaskClient,
    session: Session,
    processor: PaymentProcessor,
    admin: dict[str, str],
) -> None:
    payment = paid_order(session, processor)

    class Down(SandboxProcessor):
        def refund(self, **kwargs: Any) -> str:
            raise TransientProcessorError("down")

    app.extensions[EXTENSION] = Down()
    problem_of(refund(client, payment, admin, key="retry-me"), 503, "processor-unavailable")
    assert published(session, "payment.refunded") == []
    # The same key may be retried once the processor is back.
    app.extensions[EXTENSION] = processor
    assert refund(client, payment, admin, key="retry-me").status_code == 201


def test_a_processor_that_refuses_the_refund_is_502(
    app: Flask,
    client: FlaskClient,
    session: Session,
    processor: PaymentProcessor,
    admin: dict[str, str],
) -> None:
    payment = paid_order(session, processor)

    class Refusing(SandboxProcessor):
        def refund(self, **kwargs: Any) -> str:
            raise ProcessorError("no")

    app.extensions[EXTENSION] = Refusing()
    problem_of(refund(client, payment, admin), 502, "processor-error")
    assert published(session, "payment.refunded") == []
