"""Prometheus metrics: per-route counts and latency, single- and multi-process rendering."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from chassis.metrics import observe_request, render_latest

LABELS = {"service": "metrics-test", "method": "GET", "route": "/things/<int:id>"}


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, {**LABELS, **labels}) or 0.0


def test_observe_request_counts_by_status_and_times_by_route() -> None:
    count_before = sample("http_requests_total", status="200")
    timed_before = sample("http_request_duration_seconds_count")

    observe_request("metrics-test", "GET", "/things/<int:id>", 200, 0.003)
    observe_request("metrics-test", "GET", "/things/<int:id>", 200, 0.2)

    assert sample("http_requests_total", status="200") == count_before + 2
    assert sample("http_request_duration_seconds_count") == timed_before + 2
    assert sample("http_request_duration_seconds_bucket", le="0.005") >= 1


def test_render_latest_is_prometheus_text() -> None:
    observe_request("metrics-test", "GET", "/things/<int:id>", 404, 0.001)

    payload, content_type = render_latest()

    assert content_type.startswith("text/plain")
    assert b'route="/things/<int:id>"' in payload
    assert b"# TYPE http_requests_total counter" in payload


def test_render_latest_reads_the_multiprocess_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    observe_request("metrics-test", "GET", "/things/<int:id>", 200, 0.001)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))

    payload, _ = render_latest()

    # Only what worker files in the directory hold (none here), not this process's registry.
    assert b"metrics-test" not in payload
