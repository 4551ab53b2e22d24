"""Payments settings: the sandbox delay and retry attempts come from the environment."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from payments.components import build_processor
from payments.faults import FaultInjectingProcessor
from payments.processor import RetryingProcessor
from payments.sandbox import SandboxProcessor
from payments.settings import PaymentsSettings


def test_defaults_are_no_delay_and_three_attempts() -> None:
    settings = PaymentsSettings()
    assert (settings.port, settings.sandbox_delay_ms, settings.processor_attempts) == (8005, 0, 3)


def test_the_delay_is_read_from_the_service_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAZAAR_PAYMENTS_SANDBOX_DELAY_MS", "150")
    monkeypatch.setenv("BAZAAR_PAYMENTS_PROCESSOR_ATTEMPTS", "5")
    processor = build_processor(PaymentsSettings())
    assert isinstance(processor, RetryingProcessor)
    assert processor.attempts == 5
    assert isinstance(processor.inner, FaultInjectingProcessor)
    assert isinstance(processor.inner.inner, SandboxProcessor)
    assert processor.inner.inner.delay_ms == 150


@pytest.mark.parametrize(
    ("name", "value"),
    [("SANDBOX_DELAY_MS", "-1"), ("SANDBOX_DELAY_MS", "soon"), ("PROCESSOR_ATTEMPTS", "0")],
)
def test_nonsense_values_are_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(f"BAZAAR_PAYMENTS_{name}", value)
    with pytest.raises(ValidationError):
        PaymentsSettings()
