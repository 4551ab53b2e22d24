"""Prometheus metrics shared by every service: per-route latency and status counts."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prom_multiprocess

from chassis import faults

# Metric objects are declarations, not connections: defining them here is what
# prometheus-client expects, and the service label keeps several apps apart in one process.
REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests handled, by route template and status.",
    ["service", "method", "route", "status"],
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency by route template.",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
UPSTREAM_FAILURES = Counter(
    "upstream_failures_total",
    "Calls to other services that failed, by target and reason.",
    ["service", "target", "reason"],
)
DEGRADED = Counter(
    "degraded_operations_total",
    "Operations served on a fallback because a dependency failed.",
    ["service", "dependency"],
)
EVENTS_PUBLISHED = Counter(
    "events_published_total",
    "Events the outbox relay handed to the broker (confirmed).",
    ["service", "type"],
)
EVENTS_CONSUMED = Counter(
    "events_consumed_total",
    "Deliveries a consumer finished: handled, duplicate (dropped by the inbox) or dead_lettered.",
    ["service", "type", "outcome"],
)
EVENT_HANDLER_FAILURES = Counter(
    "event_handler_failures_total",
    "Handler attempts that raised (each retry counts).",
    ["service", "type"],
)

# Backlogs the events worker measures every few seconds (chassis.events.backlog): what the
# alert rules in deploy/prometheus watch. "livemax": one value per series across the live
# processes, without a pid label, as only the worker process sets them.
OUTBOX_UNPUBLISHED = Gauge(
    "events_outbox_unpublished",
    "Outbox rows not yet handed to the broker.",
    ["service"],
    multiprocess_mode="livemax",
)
OUTBOX_OLDEST_AGE = Gauge(
    "events_outbox_oldest_unpublished_age_seconds",
    "Age of the oldest outbox row not yet handed to the broker (0 when none waits).",
    ["service"],
    multiprocess_mode="livemax",
)
DEAD_LETTERS = Gauge(
    "events_dead_letters",
    "Messages parked on the service's dead letter queue.",
    ["service"],
    multiprocess_mode="livemax",
)


def observe_request(service: str, method: str, route: str, status: int, seconds: float) -> None:
    """Record one handled request."""
    REQUESTS.labels(service, method, route, str(status)).inc()
    LATENCY.labels(service, method, route).observe(seconds)


def render_latest() -> tuple[bytes, str]:
    """Exposition text; merges worker files when running under several processes."""
    faults.current().refresh_if_due()  # the fault gauges are current in every scrape
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        prom_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
