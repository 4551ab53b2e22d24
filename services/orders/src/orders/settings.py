"""Orders settings: `BAZAAR_ORDERS_*`, falling back to `BAZAAR_*`."""

from __future__ import annotations

from pydantic import Field

from chassis import ServiceSettings


class OrdersSettings(ServiceSettings):
    """Settings of the orders service."""

    service_name = "orders"
    default_port = 8004

    # The services checkout asks: `BAZAAR_ORDERS_CATALOG_URL`, then `BAZAAR_CATALOG_URL`.
    catalog_url: str = "http://127.0.0.1:8001"
    users_url: str = "http://127.0.0.1:8003"
    payments_url: str = "http://127.0.0.1:8005"
    # Read timeout (and retry budget) of one upstream call during checkout.
    upstream_timeout_seconds: float = Field(default=3.0, gt=0, le=30)
    # Calls in flight to each upstream per worker process; past it a call fails at once with
    # 503, so a frozen neighbour cannot hold every thread and /readyz and the other routes
    # keep answering. Unset: half of `threads` (at least one).
    upstream_max_in_flight: int | None = Field(default=None, ge=1)

    @property
    def upstream_bulkhead(self) -> int:
        """Calls in flight allowed to each upstream: the setting, else half the web threads."""
        if self.upstream_max_in_flight is not None:
            return self.upstream_max_in_flight
        return max(1, self.threads // 2)

    # A PENDING order older than this is cancelled by the watchdog ("timed out").
    pending_deadline_seconds: int = Field(default=120, ge=1)
    watchdog_interval_seconds: float = Field(default=5.0, gt=0)

    # The status stream: poll the database this often, send a heartbeat comment this often
    # (under the gateway's 10 s upstream read timeout), and end after this long (the
    # browser's EventSource reconnects on its own).
    stream_poll_seconds: float = Field(default=0.25, gt=0)
    stream_heartbeat_seconds: float = Field(default=5.0, gt=0)
    stream_max_seconds: float = Field(default=55.0, gt=0)
