"""Prometheus metrics of gRPC calls, served and made (beside the HTTP ones in chassis.metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

SERVER_CALLS = Counter(
    "grpc_server_handled_total",
    "gRPC calls served, by method and status code.",
    ["service", "method", "code"],
)
SERVER_LATENCY = Histogram(
    "grpc_server_handling_seconds",
    "Time to serve a gRPC call, by method.",
    ["service", "method"],
    buckets=_BUCKETS,
)
CLIENT_CALLS = Counter(
    "grpc_client_handled_total",
    "gRPC calls made to other services (each attempt), by target, method and status code.",
    ["target", "method", "code"],
)
CLIENT_LATENCY = Histogram(
    "grpc_client_handling_seconds",
    "Time of one gRPC call to another service, retries included, by target and method.",
    ["target", "method"],
    buckets=_BUCKETS,
)
