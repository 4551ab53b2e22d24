"""Payments' fault flags: the card network slowed, declining or failing on an operator's word."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from chassis import faults
from chassis.settings import ServiceSettings
from payments.cards import Card
from payments.components import build_processor
from payments.faults import FaultInjectingProcessor
from payments.processor import Approval, Decline, RetryingProcessor
from payments.sandbox import APPROVED_CARD
from payments.settings import PaymentsSettings

from .conftest import (
    RecordingSandbox,
    deliver,
    future_year,
    make_method,
    payment_of,
    payment_requested,
    published,
)


@pytest.fixture
def flags(tmp_path: Path) -> Iterator[faults.Faults]:
    """This process's fault flags, on a folder of the test's own."""
    yield faults.configure(ServiceSettings(env="test", data_dir=tmp_path / "flags"))
    faults.configure(ServiceSettings(env="production", secret_key="x" * 40, jwks_url="http://j"))


def test_the_service_builds_its_processor_with_the_faults_inside_the_retries() -> None:
    processor = build_processor(PaymentsSettings(env="test"))
    assert isinstance(processor, RetryingProcessor)
    assert isinstance(processor.inner, FaultInjectingProcessor)


def test_failing_authorizations_spend_the_retries_and_decline_as_processing_errors(
    session: Session, sandbox: RecordingSandbox, flags: faults.Faults
) -> None:
    processor = RetryingProcessor(FaultInjectingProcessor(sandbox), attempts=3)
    method = make_method(session)
    flags.set("payment_failure_ratio", "1")
    failed = payment_requested(method)
    deliver(session, processor, failed)
    payment = payment_of(session, failed.payload["order_id"])
    assert payment is not None
    assert (payment.status, payment.decline_code) == ("declined", "processing_error")
    assert sandbox.count("authorize") == 0  # the network never answered

    flags.set("payment_failure_ratio", "0")
    passed = payment_requested(method)
    deliver(session, processor, passed)
    payment = payment_of(session, passed.payload["order_id"])
    assert payment is not None and payment.status == "authorized"
    assert [d["code"] for d in published(session, "payment.declined")] == ["processing_error"]


def test_a_share_of_authorizations_is_declined_the_same_way_on_every_retry(
    sandbox: RecordingSandbox, flags: faults.Faults
) -> None:
    processor = FaultInjectingProcessor(sandbox)
    token = sandbox.tokenize(make_card()).token
    flags.set("payment_decline_ratio", "0.5")
    outcomes = {
        key: processor.authorize(token=token, amount=100, currency="EUR", operation_key=key)
        for key in (f"ord-{i}:authorize" for i in range(200))
    }
    declined = [k for k, o in outcomes.items() if isinstance(o, Decline)]
    assert 60 < len(declined) < 140
    assert all(isinstance(o, Approval) for k, o in outcomes.items() if k not in declined)
    again = processor.authorize(token=token, amount=100, currency="EUR", operation_key=declined[0])
    assert isinstance(again, Decline) and again.code == "card_declined"


def test_a_slow_card_network_delays_every_call(
    sandbox: RecordingSandbox, flags: faults.Faults
) -> None:
    processor = FaultInjectingProcessor(sandbox)
    flags.set("payment_latency_ms", "150")
    started = time.perf_counter()
    processor.tokenize(make_card())
    assert time.perf_counter() - started >= 0.15


def make_card() -> Card:
    """An approved test card."""
    return Card(number=APPROVED_CARD, exp_month=12, exp_year=future_year(), cvc="123")
