"""The payment method API, end to end through Flask, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import String, Text, select
from sqlalchemy.orm import Session

from chassis.testing import TokenMinter, problem_of
from payments.components import EXTENSION
from payments.methods.service import MAX_METHODS_PER_CUSTOMER
from payments.models import Base, PaymentMethod
from payments.processor import ProcessorError, TransientProcessorError
from payments.sandbox import APPROVED_CARD, SandboxProcessor

from ..conftest import CUSTOMER, OTHER_CUSTOMER, future_year, make_method


def card_body(number: str = "4242 4242 4242 4242", **overrides: Any) -> dict[str, Any]:
    """A valid POST /methods body."""
    return {"card_number": number, "exp_month": 12, "exp_year": future_year(), "cvc": "123",
            **overrides}  # fmt: skip


def test_saving_a_card_keeps_brand_last4_and_expiry(
    client: FlaskClient, customer: dict[str, str]
) -> None:
    response = client.post("/methods", json=card_body(), headers=customer)
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"id", "brand", "last4", "exp_month", "exp_year", "created_at"}
    assert re.fullmatch(r"pm_[0-9a-f]{24}", body["id"])
    assert (body["brand"], body["last4"], body["exp_month"]) == ("visa", "4242", 12)
    assert response.headers["Location"] == f"/methods/{body['id']}"
    assert client.get(response.headers["Location"], headers=customer).get_json() == body


@pytest.mark.parametrize(
    ("number", "brand", "last4"),
    [
        ("5555-5555-5555-4444", "mastercard", "4444"),
        ("2223 0031 2200 3222", "mastercard", "3222"),
        ("3782 822463 10005", "amex", "0005"),
        ("6011111111111117", "unknown", "1117"),
    ],
)
def test_brand_comes_from_the_number_prefix(
    client: FlaskClient, customer: dict[str, str], number: str, brand: str, last4: str
) -> None:
    body = client.post("/methods", json=card_body(number, cvc="1234"), headers=customer).get_json()
    assert (body["brand"], body["last4"]) == (brand, last4)


def test_a_card_expiring_this_month_is_accepted(
    client: FlaskClient, customer: dict[str, str]
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    body = card_body(exp_month=today.month, exp_year=today.year)
    assert client.post("/methods", json=body, headers=customer).status_code == 201


@pytest.mark.parametrize(
    "override",
    [
        {"card_number": "4242 4242 4242 4241"},  # Luhn
        {"card_number": "4242424242424242x"},
        {"card_number": "4242_4242_4242_4242"},
        {"card_number": "42424242424"},
        {"card_number": "4" * 20},
        {"card_number": 4242424242424242},
        {"card_number": ""},
        {"exp_month": 0},
        {"exp_month": 13},
        {"exp_year": 2020},
        {"exp_year": 26},
        {"cvc": "12"},
        {"cvc": "12345"},
        {"cvc": "abc"},
        {"cvc": 123},
        {"nickname": "mine"},
    ],
)
def test_invalid_cards_are_422(
    client: FlaskClient, customer: dict[str, str], override: dict[str, Any]
) -> None:
    response = client.post("/methods", json=card_body(**override), headers=customer)
    body = problem_of(response, 422, "validation-error")
    assert body["errors"]


def test_an_expired_card_is_422(client: FlaskClient, customer: dict[str, str]) -> None:
    last_month = dt.datetime.now(dt.UTC).date().replace(day=1) - dt.timedelta(days=1)
    body = card_body(exp_month=last_month.month, exp_year=last_month.year)
    problem = problem_of(client.post("/methods", json=body, headers=customer), 422)
    assert "expired" in problem["detail"]


@pytest.mark.parametrize("missing", ["card_number", "exp_month", "exp_year", "cvc"])
def test_every_field_is_required(
    client: FlaskClient, customer: dict[str, str], missing: str
) -> None:
    body = card_body()
    del body[missing]
    problem_of(client.post("/methods", json=body, headers=customer), 422, "validation-error")


def test_a_refused_number_is_not_echoed(client: FlaskClient, customer: dict[str, str]) -> None:
    response = client.post("/methods", json=card_body("4242 4242 4242 4241"), headers=customer)
    problem_of(response, 422)
    text = response.get_data(as_text=True)
    assert "4242424242424241" not in text
    assert "4242 4242 4242 4241" not in text


def test_methods_need_a_token(client: FlaskClient) -> None:
    problem_of(client.post("/methods", json=card_body()), 401, "unauthorized")
    problem_of(client.get("/methods"), 401, "unauthorized")


def test_list_shows_only_the_callers_cards_oldest_first(
    client: FlaskClient, session: Session, customer: dict[str, str]
) -> None:
    first = make_method(session, CUSTOMER)
    second = make_method(session, CUSTOMER, number="5555555555554444")
    make_method(session, OTHER_CUSTOMER)
    items = client.get("/methods", headers=customer).get_json()["items"]
    assert [m["id"] for m in items] == [first.id, second.id]


def test_another_customers_card_is_404(
    client: FlaskClient, session: Session, customer: dict[str, str], other_customer: dict[str, str]
) -> None:
    mine = client.post("/methods", json=card_body(), headers=customer).get_json()
    problem_of(client.get(f"/methods/{mine['id']}", headers=other_customer), 404,
               "payment-method-not-found")  # fmt: skip
    problem_of(client.delete(f"/methods/{mine['id']}", headers=other_customer), 404)
    assert client.get("/methods", headers=other_customer).get_json() == {"items": []}
    assert client.get(f"/methods/{mine['id']}", headers=customer).status_code == 200


@pytest.mark.parametrize("method_id", ["pm_" + "0" * 24, "nope", "pm_%00", "x" * 300])
def test_unknown_ids_are_404(client: FlaskClient, customer: dict[str, str], method_id: str) -> None:
    problem_of(client.get(f"/methods/{method_id}", headers=customer), 404)


def test_deleting_a_card_forgets_it(
    client: FlaskClient, session: Session, customer: dict[str, str]
) -> None:
    method = make_method(session)
    assert client.delete(f"/methods/{method.id}", headers=customer).status_code == 204
    problem_of(client.get(f"/methods/{method.id}", headers=customer), 404)
    problem_of(client.delete(f"/methods/{method.id}", headers=customer), 404)


def test_a_customer_keeps_at_most_twenty_cards(
    client: FlaskClient, session: Session, customer: dict[str, str]
) -> None:
    for _ in range(MAX_METHODS_PER_CUSTOMER):
        make_method(session)
    body = problem_of(client.post("/methods", json=card_body(), headers=customer), 409,
                      "too-many-payment-methods")  # fmt: skip
    assert body["limit"] == MAX_METHODS_PER_CUSTOMER


def test_a_processor_that_keeps_failing_is_503_and_nothing_is_saved(
    app: Flask, client: FlaskClient, session: Session, customer: dict[str, str]
) -> None:
    class Unreachable(SandboxProcessor):
        def tokenize(self, card: Any) -> Any:
            raise TransientProcessorError("down")

    app.extensions[EXTENSION] = Unreachable()
    response = client.post("/methods", json=card_body(), headers=customer)
    problem_of(response, 503, "processor-unavailable")
    assert session.scalar(select(PaymentMethod)) is None


def test_a_card_the_processor_refuses_is_422(
    app: Flask, client: FlaskClient, customer: dict[str, str]
) -> None:
    class Refusing(SandboxProcessor):
        def tokenize(self, card: Any) -> Any:
            raise ProcessorError("stolen card")

    app.extensions[EXTENSION] = Refusing()
    problem_of(client.post("/methods", json=card_body(), headers=customer), 422, "card-refused")


def test_a_token_subject_too_long_for_a_customer_id_is_403(
    client: FlaskClient, token_minter: TokenMinter
) -> None:
    headers = token_minter.auth("x" * 65, roles=("customer",))
    problem_of(client.post("/methods", json=card_body(), headers=headers), 403)


# -- the card number goes nowhere --------------------------------------------------------


def every_text_value(session: Session) -> list[str]:
    """Every value of every string column of every table of the service."""
    values: list[str] = []
    for table in Base.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, String | Text)]
        for row in session.execute(select(*columns)) if columns else ():
            values += [str(v) for v in row if v is not None]
    return values


def test_the_card_number_is_in_no_column_of_any_table(
    client: FlaskClient, session: Session, customer: dict[str, str]
) -> None:
    response = client.post("/methods", json=card_body("4242-4242-4242-4242"), headers=customer)
    assert response.status_code == 201
    session.expire_all()
    values = every_text_value(session)
    assert any(response.get_json()["id"] in v for v in values)  # the scan does see the row
    assert not [v for v in values if APPROVED_CARD in v or "4242-4242" in v]
    columns = {c.name for t in Base.metadata.sorted_tables for c in t.columns}
    assert not {c for c in columns if "cvc" in c or "number" in c}


def test_the_card_number_and_cvc_are_in_no_log_line(
    client: FlaskClient, customer: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    # The chassis' own handler formats structlog's JSON lines; capture what it would print.
    root = logging.getLogger()
    stream = io.StringIO()
    rendered = logging.StreamHandler(stream)
    rendered.setFormatter(root.handlers[0].formatter if root.handlers else None)
    root.addHandler(rendered)
    caplog.set_level(logging.DEBUG)
    try:
        body = card_body("4242 4242 4242 4242", cvc="8642")
        assert client.post("/methods", json=body, headers=customer).status_code == 201
        bad = card_body("4242 4242 4242 4241", cvc="8642")
        assert client.post("/methods", json=bad, headers=customer).status_code == 422
    finally:
        root.removeHandler(rendered)
    output = stream.getvalue() + caplog.text
    assert "payment method saved" in output  # the capture works
    # The CVC is checked as a quoted value: four digits may occur in a random request id.
    for secret in ("4242424242424242", "4242 4242", "4242424242424241", '"8642"', "'8642'"):
        assert secret not in output
