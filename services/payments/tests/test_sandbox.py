"""The sandbox processor: test cards, tokens, idempotent references, delay and retries."""

from __future__ import annotations

import pytest

from payments.cards import Card
from payments.processor import (
    Approval,
    Decline,
    PaymentProcessor,
    ProcessorError,
    RetryingProcessor,
    TransientProcessorError,
)
from payments.sandbox import (
    APPROVED_CARD,
    DECLINED_CARD,
    FLAKY_CARD,
    INSUFFICIENT_FUNDS_CARD,
    SandboxProcessor,
)

from .conftest import future_year


def card(number: str = APPROVED_CARD, *, exp_month: int = 12, exp_year: int = 0) -> Card:
    """A card, valid for years unless told otherwise."""
    return Card(number=number, exp_month=exp_month, exp_year=exp_year or future_year(), cvc="987")


def authorize(sandbox: PaymentProcessor, number: str, key: str = "ord-1:authorize") -> object:
    """Tokenize `number` and authorize 10.00 EUR on it."""
    token = sandbox.tokenize(card(number)).token
    return sandbox.authorize(token=token, amount=1000, currency="EUR", operation_key=key)


def test_the_sandbox_is_a_payment_processor() -> None:
    processor: PaymentProcessor = SandboxProcessor()  # mypy checks the Protocol here
    assert processor.tokenize(card()).brand == "visa"


def test_token_keeps_brand_and_last4_but_not_the_number_or_cvc() -> None:
    token = SandboxProcessor().tokenize(card("5555555555554444"))
    assert (token.brand, token.last4) == ("mastercard", "4444")
    # A behaviour and 24 random hex digits: nothing derived from the card.
    prefix, _, random_part = token.token.rpartition("_")
    assert prefix == "tok_sandbox_approve"
    assert len(random_part) == 24


def test_two_tokens_of_one_card_differ() -> None:
    sandbox = SandboxProcessor()
    assert sandbox.tokenize(card()).token != sandbox.tokenize(card()).token


def test_4242_is_approved() -> None:
    outcome = authorize(SandboxProcessor(), APPROVED_CARD)
    assert isinstance(outcome, Approval)
    assert outcome.reference.startswith("auth_sandbox_approve_")


@pytest.mark.parametrize(
    ("number", "code"),
    [(DECLINED_CARD, "card_declined"), (INSUFFICIENT_FUNDS_CARD, "insufficient_funds")],
)
def test_decline_cards_are_declined_with_their_code(number: str, code: str) -> None:
    outcome = authorize(SandboxProcessor(), number)
    assert isinstance(outcome, Decline)
    assert outcome.code == code
    assert outcome.message


@pytest.mark.parametrize("number", ["5555555555554444", "378282246310005", "6011111111111117"])
def test_any_other_luhn_valid_number_is_approved(number: str) -> None:
    assert isinstance(authorize(SandboxProcessor(), number), Approval)


def test_flaky_card_fails_twice_per_operation_then_succeeds() -> None:
    sandbox = SandboxProcessor()
    token = sandbox.tokenize(card(FLAKY_CARD)).token

    def attempt(key: str) -> object:
        return sandbox.authorize(token=token, amount=500, currency="EUR", operation_key=key)

    for _ in range(2):
        with pytest.raises(TransientProcessorError):
            attempt("ord-1:authorize")
    # Another operation has its own two failures.
    with pytest.raises(TransientProcessorError):
        attempt("ord-2:authorize")
    outcome = attempt("ord-1:authorize")
    assert isinstance(outcome, Approval)
    assert outcome.reference.startswith("auth_sandbox_flaky_")


def test_flaky_authorization_is_flaky_to_capture_too() -> None:
    sandbox = RetryingProcessor(SandboxProcessor(), attempts=3)
    outcome = authorize(sandbox, FLAKY_CARD)
    assert isinstance(outcome, Approval)
    capture = sandbox.capture(
        authorization=outcome.reference, amount=1000, currency="EUR", operation_key="c"
    )
    assert capture.startswith("cap_sandbox_flaky_")


def test_the_same_operation_key_gives_the_same_reference() -> None:
    sandbox = SandboxProcessor()
    first = authorize(sandbox, APPROVED_CARD, key="ord-9:authorize")
    again = authorize(sandbox, APPROVED_CARD, key="ord-9:authorize")
    other = authorize(sandbox, APPROVED_CARD, key="ord-10:authorize")
    assert first == again != other


def test_capture_void_and_refund_answer_with_references() -> None:
    sandbox = SandboxProcessor()
    outcome = authorize(sandbox, APPROVED_CARD)
    assert isinstance(outcome, Approval)
    auth = outcome.reference
    capture = sandbox.capture(authorization=auth, amount=1, currency="EUR", operation_key="c")
    void = sandbox.void(authorization=auth, operation_key="v")
    refund = sandbox.refund(authorization=auth, amount=1, currency="EUR", operation_key="r")
    assert capture.startswith("cap_sandbox_")
    assert void.startswith("void_sandbox_")
    assert refund.startswith("re_sandbox_")


@pytest.mark.parametrize(
    "handle", ["", "tok_live_abc", "auth_sandbox_approve_x", "tok_sandbox_x_y"]
)
def test_foreign_tokens_are_refused(handle: str) -> None:
    with pytest.raises(ProcessorError):
        SandboxProcessor().authorize(token=handle, amount=1, currency="EUR", operation_key="k")


def test_foreign_authorizations_are_refused() -> None:
    with pytest.raises(ProcessorError):
        SandboxProcessor().void(authorization="tok_sandbox_approve_abc", operation_key="k")


@pytest.mark.parametrize(
    "bad", [card("4242424242424241"), card(exp_year=2001), card(exp_month=1, exp_year=2020)]
)
def test_invalid_or_expired_cards_are_not_tokenized(bad: Card) -> None:
    with pytest.raises(ProcessorError):
        SandboxProcessor().tokenize(bad)


def test_every_call_waits_the_configured_delay() -> None:
    slept: list[float] = []
    sandbox = SandboxProcessor(delay_ms=250, sleep=slept.append)
    outcome = authorize(sandbox, APPROVED_CARD)
    assert isinstance(outcome, Approval)
    sandbox.capture(authorization=outcome.reference, amount=1, currency="EUR", operation_key="c")
    assert slept == [0.25, 0.25, 0.25]


def test_no_delay_means_no_sleep() -> None:
    slept: list[float] = []
    authorize(SandboxProcessor(sleep=slept.append), APPROVED_CARD)
    assert slept == []


def test_retries_turn_the_flaky_card_into_an_approval() -> None:
    outcome = authorize(RetryingProcessor(SandboxProcessor(), attempts=3), FLAKY_CARD)
    assert isinstance(outcome, Approval)


def test_retries_give_up_after_the_configured_attempts() -> None:
    with pytest.raises(TransientProcessorError):
        authorize(RetryingProcessor(SandboxProcessor(), attempts=2), FLAKY_CARD)


def test_declines_and_refusals_are_not_retried() -> None:
    calls: list[float] = []
    sandbox = SandboxProcessor(delay_ms=1, sleep=calls.append)
    outcome = authorize(RetryingProcessor(sandbox, attempts=3), DECLINED_CARD)
    assert isinstance(outcome, Decline)
    assert len(calls) == 2  # one tokenize, one authorize
