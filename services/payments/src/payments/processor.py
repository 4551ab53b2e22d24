"""What payments asks of a card processor, whichever one it is.

`PaymentProcessor` is the seam: the sandbox in `payments.sandbox` implements it for
development and tests; an adapter for a real processor would implement the same five
calls. Every call that moves money takes an operation key, and a processor must treat
a repeated key as the same operation (the way Stripe's Idempotency-Key works): calling
`authorize` twice with one key charges once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

import stamina

from chassis.errors import ServiceUnavailable
from payments.cards import Brand, Card

T = TypeVar("T")
DeclineCode = Literal["card_declined", "insufficient_funds"]


@dataclass(frozen=True)
class CardToken:
    """What a processor gives back for a card: an opaque token, and what may be shown."""

    token: str
    brand: Brand
    last4: str


@dataclass(frozen=True)
class Approval:
    """The processor holds the amount on the card; `reference` names the authorization."""

    reference: str


@dataclass(frozen=True)
class Decline:
    """The card's issuer refused the authorization: a business outcome, not an error."""

    code: DeclineCode
    message: str


AuthorizationOutcome = Approval | Decline


class ProcessorError(Exception):
    """The processor could not do what was asked, and asking again will not help."""


class TransientProcessorError(ProcessorError):
    """The processor failed in a way that may pass: the call is worth repeating."""


class ProcessorUnavailable(ServiceUnavailable):
    """What an API caller sees when the processor kept failing through every retry."""

    slug, title = "processor-unavailable", "Card processor unavailable"


class PaymentProcessor(Protocol):
    """A card network as payments sees it; amounts are integer minor units."""

    def tokenize(self, card: Card) -> CardToken:
        """Exchange a card for a token; the number and CVC go no further."""
        ...

    def authorize(
        self, *, token: str, amount: int, currency: str, operation_key: str
    ) -> AuthorizationOutcome:
        """Hold `amount` on the tokenized card."""
        ...

    def capture(self, *, authorization: str, amount: int, currency: str, operation_key: str) -> str:
        """Move held money; returns the capture's reference."""
        ...

    def void(self, *, authorization: str, operation_key: str) -> str:
        """Release a hold without moving money; returns the void's reference."""
        ...

    def refund(self, *, authorization: str, amount: int, currency: str, operation_key: str) -> str:
        """Give captured money back; returns the refund's reference."""
        ...


class RetryingProcessor:
    """Any processor, with each call retried on transient errors (stamina: backoff, jitter).

    Retrying is safe because each call carries its operation key: a retry the processor
    already executed is answered from its record, not executed again.
    """

    def __init__(
        self, inner: PaymentProcessor, *, attempts: int = 3, budget_seconds: float = 5.0
    ) -> None:
        self.inner = inner
        self.attempts = attempts
        self.budget = dt.timedelta(seconds=budget_seconds)

    def _retrying(self, call: Callable[[], T]) -> T:
        for attempt in stamina.retry_context(
            on=TransientProcessorError,
            attempts=self.attempts,
            timeout=self.budget,
            wait_initial=0.05,
            wait_max=1.0,
            wait_jitter=0.1,
        ):
            with attempt:
                return call()
        raise AssertionError("unreachable: stamina re-raises the last error")  # pragma: no cover

    def tokenize(self, card: Card) -> CardToken:
        """Tokenize, retrying transient errors."""
        return self._retrying(lambda: self.inner.tokenize(card))

    def authorize(
        self, *, token: str, amount: int, currency: str, operation_key: str
    ) -> AuthorizationOutcome:
        """Authorize, retrying transient errors with the same operation key."""
        return self._retrying(
            lambda: self.inner.authorize(
                token=token, amount=amount, currency=currency, operation_key=operation_key
            )
        )

    def capture(self, *, authorization: str, amount: int, currency: str, operation_key: str) -> str:
        """Capture, retrying transient errors with the same operation key."""
        return self._retrying(
            lambda: self.inner.capture(
                authorization=authorization,
                amount=amount,
                currency=currency,
                operation_key=operation_key,
            )
        )

    def void(self, *, authorization: str, operation_key: str) -> str:
        """Void, retrying transient errors with the same operation key."""
        return self._retrying(
            lambda: self.inner.void(authorization=authorization, operation_key=operation_key)
        )

    def refund(self, *, authorization: str, amount: int, currency: str, operation_key: str) -> str:
        """Refund, retrying transient errors with the same operation key."""
        return self._retrying(
            lambda: self.inner.refund(
                authorization=authorization,
                amount=amount,
                currency=currency,
                operation_key=operation_key,
            )
        )
