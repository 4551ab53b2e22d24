"""Payments settings: `BAZAAR_PAYMENTS_*`, falling back to `BAZAAR_*`."""

from pydantic import Field

from chassis import ServiceSettings


class PaymentsSettings(ServiceSettings):
    """Settings of the payments service."""

    service_name = "payments"
    default_port = 8005

    # Added to every call of the sandbox processor, to rehearse a slow card network.
    sandbox_delay_ms: int = Field(default=0, ge=0, le=60_000)
    # Tries per processor call when the processor reports a transient error.
    processor_attempts: int = Field(default=3, ge=1, le=10)
    # Total time the retries of one processor call may take, in seconds.
    processor_retry_budget_seconds: float = Field(default=5.0, gt=0, le=60)
