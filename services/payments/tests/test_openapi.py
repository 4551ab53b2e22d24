"""Schemathesis fuzzes the payments OpenAPI document: no 5xx, responses match the schema."""

from __future__ import annotations

from typing import Any

import schemathesis
from sqlalchemy.orm import Session

from chassis.testing import TokenMinter, fuzz_openapi
from payments.processor import PaymentProcessor

from .conftest import CUSTOMER, deliver, make_method, payment_requested

OPERATIONS = 7


def test_payments_api_survives_fuzzing_as_a_customer_with_a_card_and_a_payment(
    app: Any, session: Session, processor: PaymentProcessor, token_minter: TokenMinter
) -> None:
    deliver(session, processor, payment_requested(make_method(session, CUSTOMER)))
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    headers = token_minter.auth(CUSTOMER, roles=("customer",))
    assert fuzz_openapi(schema, headers=headers, max_examples=15) == OPERATIONS


def test_payments_api_survives_fuzzing_as_an_admin(app: Any, token_minter: TokenMinter) -> None:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    headers = token_minter.auth("admin-fuzz", roles=("admin",))
    assert fuzz_openapi(schema, headers=headers, max_examples=10) == OPERATIONS


def test_payments_api_survives_fuzzing_anonymously(app: Any) -> None:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    assert fuzz_openapi(schema, max_examples=5) == OPERATIONS
