"""Where payments' fault flags apply: between the retries and the card network."""

from __future__ import annotations

from chassis import faults
from payments.cards import Card
from payments.processor import (
    AuthorizationOutcome,
    CardToken,
    Decline,
    PaymentProcessor,
    TransientProcessorError,
)


class FaultInjectingProcessor:
    """Any processor, slowed, declining or failing as the operator's fault flags say.

    `payment_latency_ms` delays every call. `payment_decline_ratio` and
    `payment_failure_ratio` pick authorizations by operation key, so every retry of a
    failing one fails too: the retries are spent and the order is cancelled.
    """

    def __init__(self, inner: PaymentProcessor) -> None:
        self.inner = inner

    def tokenize(self, card: Card) -> CardToken:
        """Tokenize, after the injected latency."""
        faults.sleep_for("payment_latency_ms")
        return self.inner.tokenize(card)

    def authorize(
        self, *, token: str, amount: int, currency: str, operation_key: str
    ) -> AuthorizationOutcome:
        """Authorize, unless a fault flag fails or declines this operation."""
        faults.sleep_for("payment_latency_ms")
        if faults.chance("payment_failure_ratio", operation_key):
            raise TransientProcessorError("Card network failure (fault payment_failure_ratio).")
        if faults.chance("payment_decline_ratio", operation_key):
            return Decline(code="card_declined", message="The card was declined.")
        return self.inner.authorize(
            token=token, amount=amount, currency=currency, operation_key=operation_key
        )

    def capture(self, *, authorization: str, amount: int, currency: str, operation_key: str) -> str:
        """Capture, after the injected latency."""
        faults.sleep_for("payment_latency_ms")
        return self.inner.capture(
            authorization=authorization,
            amount=amount,
            currency=currency,
            operation_key=operation_key,
        )

    def void(self, *, authorization: str, operation_key: str) -> str:
        """Void, after the injected latency."""
        faults.sleep_for("payment_latency_ms")
        return self.inner.void(authorization=authorization, operation_key=operation_key)

    def refund(self, *, authorization: str, amount: int, currency: str, operation_key: str) -> str:
        """Refund, after the injected latency."""
        faults.sleep_for("payment_latency_ms")
        return self.inner.refund(
            authorization=authorization,
            amount=amount,
            currency=currency,
            operation_key=operation_key,
        )
