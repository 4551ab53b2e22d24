"""The sandbox: a test double of a card network, built in so Bazaar runs with no account anywhere.

It is NOT a payment processor. No money moves and no network is called; it answers
the way a processor's test mode does, so checkout, declines and retries can be
rehearsed. Its test cards (any future expiry, any CVC):

| number              | what happens                                                   |
| ------------------- | -------------------------------------------------------------- |
| 4242 4242 4242 4242 | approved                                                       |
| 4000 0000 0000 0002 | declined, code `card_declined`                                 |
| 4000 0000 0000 9995 | declined, code `insufficient_funds`                            |
| 4000 0000 0000 0119 | each operation fails twice with a transient error, then passes |
| any other Luhn-valid number | approved                                               |

Like Stripe's test tokens, the token a card becomes names its behaviour
(`tok_sandbox_decline_<random>`), so any sandbox instance, in any process, knows what
a token does without storing cards. The references it hands out are derived from the
operation key, so repeating an operation returns the same reference: idempotent by
construction. The only state is how many times each flaky operation was tried.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from typing import Literal, get_args

from payments.cards import Card, expired, luhn_valid
from payments.processor import (
    Approval,
    AuthorizationOutcome,
    CardToken,
    Decline,
    ProcessorError,
    TransientProcessorError,
)

Behaviour = Literal["approve", "decline", "nofunds", "flaky"]
BEHAVIOURS: frozenset[str] = frozenset(get_args(Behaviour))

APPROVED_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
INSUFFICIENT_FUNDS_CARD = "4000000000009995"
FLAKY_CARD = "4000000000000119"
TEST_CARDS: dict[str, Behaviour] = {
    APPROVED_CARD: "approve",
    DECLINED_CARD: "decline",
    INSUFFICIENT_FUNDS_CARD: "nofunds",
    FLAKY_CARD: "flaky",
}
# How many attempts of each operation on a flaky card fail before one succeeds.
FLAKY_FAILURES = 2


class SandboxProcessor:
    """A sandbox / test double of a card network that implements `PaymentProcessor`."""

    def __init__(self, *, delay_ms: int = 0, sleep: Callable[[float], None] = time.sleep) -> None:
        self.delay_ms = delay_ms
        self._sleep = sleep
        self._lock = threading.Lock()
        # Operation key -> failed attempts so far, for flaky cards; dropped on success.
        self._failures: dict[str, int] = {}

    # -- the PaymentProcessor calls ------------------------------------------------------

    def tokenize(self, card: Card) -> CardToken:
        """A token naming the card's test behaviour; the number itself is not in it."""
        self._pause()
        if not luhn_valid(card.number) or expired(card.exp_month, card.exp_year):
            raise ProcessorError("The sandbox refuses invalid or expired cards.")
        behaviour = TEST_CARDS.get(card.number, "approve")
        return CardToken(
            token=f"tok_sandbox_{behaviour}_{secrets.token_hex(12)}",
            brand=card.brand,
            last4=card.last4,
        )

    def authorize(
        self, *, token: str, amount: int, currency: str, operation_key: str
    ) -> AuthorizationOutcome:
        """Approve or decline as the token's behaviour says."""
        behaviour = self._behaviour(token, "tok")
        self._attempt(operation_key, behaviour)
        if behaviour == "decline":
            return Decline(code="card_declined", message="The card was declined.")
        if behaviour == "nofunds":
            return Decline(code="insufficient_funds", message="The card has insufficient funds.")
        return Approval(reference=self._reference("auth", behaviour, operation_key))

    def capture(self, *, authorization: str, amount: int, currency: str, operation_key: str) -> str:
        """Capture an authorization this sandbox issued."""
        behaviour = self._behaviour(authorization, "auth")
        self._attempt(operation_key, behaviour)
        return self._reference("cap", behaviour, operation_key)

    def void(self, *, authorization: str, operation_key: str) -> str:
        """Void an authorization this sandbox issued."""
        behaviour = self._behaviour(authorization, "auth")
        self._attempt(operation_key, behaviour)
        return self._reference("void", behaviour, operation_key)

    def refund(self, *, authorization: str, amount: int, currency: str, operation_key: str) -> str:
        """Refund against an authorization this sandbox issued."""
        behaviour = self._behaviour(authorization, "auth")
        self._attempt(operation_key, behaviour)
        return self._reference("re", behaviour, operation_key)

    # -- internals ---------------------------------------------------------------------

    def _pause(self) -> None:
        if self.delay_ms:
            self._sleep(self.delay_ms / 1000)

    def _attempt(self, operation_key: str, behaviour: str) -> None:
        """One call of an operation: the configured delay, and a flaky card's failures."""
        self._pause()
        if behaviour != "flaky":
            return
        with self._lock:
            failures = self._failures.get(operation_key, 0)
            if failures < FLAKY_FAILURES:
                self._failures[operation_key] = failures + 1
                raise TransientProcessorError(
                    f"Sandbox processing error (attempt {failures + 1} of this operation)."
                )
            self._failures.pop(operation_key, None)

    @staticmethod
    def _behaviour(handle: str, kind: str) -> str:
        prefix, _, rest = handle.partition("_sandbox_")
        behaviour = rest.partition("_")[0]
        if prefix != kind or behaviour not in BEHAVIOURS:
            raise ProcessorError(f"Not a sandbox {kind} handle.")
        return behaviour

    @staticmethod
    def _reference(kind: str, behaviour: str, operation_key: str) -> str:
        # Derived from the key, so a repeated operation answers with the same reference.
        digest = hashlib.sha256(operation_key.encode()).hexdigest()[:24]
        return f"{kind}_sandbox_{behaviour}_{digest}"
