"""The processor payments talks to, built once per app or worker from the settings."""

from __future__ import annotations

from typing import cast

from flask import current_app

from payments.faults import FaultInjectingProcessor
from payments.processor import PaymentProcessor, RetryingProcessor
from payments.sandbox import SandboxProcessor
from payments.settings import PaymentsSettings

EXTENSION = "payments.processor"


def build_processor(settings: PaymentsSettings) -> PaymentProcessor:
    """The sandbox (the only processor built in), its calls retried on transient errors.

    The fault flags act between the two, where a real card network would misbehave.
    """
    return RetryingProcessor(
        FaultInjectingProcessor(SandboxProcessor(delay_ms=settings.sandbox_delay_ms)),
        attempts=settings.processor_attempts,
        budget_seconds=settings.processor_retry_budget_seconds,
    )


def current_processor() -> PaymentProcessor:
    """The processor of the current app (set by `create_app`)."""
    return cast(PaymentProcessor, current_app.extensions[EXTENSION])
