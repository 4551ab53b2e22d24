"""One order, one trace: across the gateway, four services, the broker and three workers.

On embedded defaults the spans land in `var/traces.db` and `bazaar trace` prints them; with
`OTEL_EXPORTER_OTLP_ENDPOINT` they go to a collector (here an OTLP/HTTP receiver of the
test's own, decoded with opentelemetry-proto); with `BAZAAR_OTEL_ENABLED=false` nowhere.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from chassis.spanstore import SpanStore, StoredSpan

from .conftest import Platform, launch
from .shop import admin_headers, checkout, fill_cart, new_customer, new_product, wait_final

pytestmark = pytest.mark.system

SERVICES = {
    "gateway", "orders", "users", "payments", "catalog",
    "catalog-worker", "orders-worker", "payments-worker",
}  # fmt: skip
# The saga of a confirmed order, each step a handler span in the trace.
HANDLERS = {
    ("catalog-worker", "handle order.placed"),
    ("orders-worker", "handle stock.reserved"),
    ("payments-worker", "handle order.payment_requested"),
    ("orders-worker", "handle payment.authorized"),
}


def place_order(platform: Platform, card: str = "success") -> str:
    """A customer buys one product through the gateway; the order's id once it is final."""
    customer = new_customer(platform, via_gateway=True)
    product = new_product(platform, admin_headers(platform), stock=3)
    fill_cart(platform, customer, product)
    placed = checkout(platform, customer, card=card)
    assert placed.status_code in (201, 202), placed.text
    order_id = str(placed.json()["id"])
    wait_final(platform, customer, order_id)
    return order_id


def store_of(platform: Platform) -> SpanStore:
    """The platform's span file."""
    path = Path(platform.env["BAZAAR_DATA_DIR"]) / "traces.db"
    return SpanStore(path, max_bytes=64 * 1024 * 1024, max_age_seconds=3600)


def spans_until(
    find: Any, done: Any, timeout: float = 20.0
) -> list[Any]:  # spans are written in batches, about a second apart
    """Call `find` until `done(spans)` holds; the last spans found."""
    deadline = time.monotonic() + timeout
    spans = find()
    while not done(spans) and time.monotonic() < deadline:
        time.sleep(0.25)
        spans = find()
    return list(spans)


def whole(spans: list[StoredSpan]) -> bool:
    """Every service and every saga handler has written its spans."""
    seen = {(s.service, s.name) for s in spans}
    return {s.service for s in spans} >= SERVICES and seen >= HANDLERS


def assert_one_connected_trace(spans: list[StoredSpan]) -> None:
    """One root (the gateway's request), every other span's parent present and earlier."""
    assert len({s.trace_id for s in spans}) == 1
    by_id = {s.span_id: s for s in spans}
    roots = [s for s in spans if s.parent_id is None]
    assert [(r.service, r.kind) for r in roots] == [("gateway", "SERVER")], roots
    assert roots[0].name.startswith("POST ")
    for span in spans:
        if span.parent_id is None:
            continue
        parent = by_id.get(span.parent_id)
        assert parent is not None, f"{span.service} {span.name}: parent {span.parent_id} missing"
        # One clock on one machine: a child never starts before its parent.
        assert span.start_ns >= parent.start_ns, (span.name, parent.name)


def test_one_order_is_one_trace_and_bazaar_trace_prints_it(shop: Platform) -> None:
    order_id = place_order(shop)
    store = store_of(shop)

    spans = spans_until(lambda: store.find(order_id), whole)

    assert {s.service for s in spans} >= SERVICES, sorted({s.service for s in spans})
    assert {(s.service, s.name) for s in spans} >= HANDLERS
    assert any(s.name == "publish order.confirmed" for s in spans)
    assert_one_connected_trace(spans)
    # Service calls are client spans with the callee's server span below them.
    calls = [s for s in spans if s.kind == "CLIENT" and s.service == "orders"]
    assert {s.attributes.get("server.address") for s in calls} >= {"users", "payments", "catalog"}
    assert any(s.name.startswith(("SELECT", "INSERT")) for s in spans)  # SQL spans

    printed = subprocess.run(
        [sys.executable, "-m", "chassis.cli", "trace", order_id],
        env=shop.env, cwd=shop.log.parent, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert f"trace {spans[0].trace_id}" in printed
    for service, handler in HANDLERS:
        assert handler in printed and service in printed
    # A broker send that met a reset connection and was sent again is a failed producer
    # span in the trace, as it should be; every request and handler succeeded.
    assert not [(s.service, s.name) for s in spans if s.error and s.kind != "PRODUCER"]

    listed = subprocess.run(
        [sys.executable, "-m", "chassis.cli", "traces", "--slow"],
        env=shop.env, cwd=shop.log.parent, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "trace id" in listed and len(listed.splitlines()) >= 2


def test_a_declined_payment_is_an_error_span_with_the_reason(shop: Platform) -> None:
    order_id = place_order(shop, card="decline")
    store = store_of(shop)

    spans = spans_until(
        lambda: store.find(order_id),
        lambda found: any(s.service == "payments-worker" and s.error for s in found),
    )

    [declined] = [s for s in spans if s.service == "payments-worker" and s.error]
    assert declined.name == "handle order.payment_requested"
    assert declined.status_message and "declined" in declined.status_message
    printed = subprocess.run(
        [sys.executable, "-m", "chassis.cli", "trace", order_id],
        env=shop.env, cwd=shop.log.parent, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "ERROR" in printed and "payment declined" in printed


def test_problems_carry_the_trace_id_of_the_request(shop: Platform) -> None:
    response = httpx.get(shop.gateway + "/api/catalog/products/999999999", timeout=10.0)

    assert response.status_code == 404
    trace_id = response.json()["trace_id"]
    spans = spans_until(
        lambda: store_of(shop).find(trace_id),
        lambda found: {"gateway", "catalog"} <= {s.service for s in found},
    )
    assert {"gateway", "catalog"} <= {s.service for s in spans}
    request_id = response.headers["X-Request-ID"]
    assert {s.trace_id for s in store_of(shop).find(request_id)} == {trace_id}


class Receiver:
    """An OTLP/HTTP trace receiver: what arrives at /v1/traces, decoded."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path == "/v1/traces":
                    message = ExportTraceServiceRequest()
                    message.ParseFromString(body)
                    with receiver.lock:
                        receiver.requests.append(message)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def spans(self) -> list[tuple[str, Any]]:
        """(service name, span) for every span received so far."""
        found = []
        with self.lock:
            for request in self.requests:
                for resource_spans in request.resource_spans:
                    service = next(
                        a.value.string_value
                        for a in resource_spans.resource.attributes
                        if a.key == "service.name"
                    )
                    for scope in resource_spans.scope_spans:
                        found.extend((service, span) for span in scope.spans)
        return found


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver serving on a thread for the test."""
    running = Receiver()
    thread = threading.Thread(target=running.server.serve_forever, daemon=True)
    thread.start()
    yield running
    running.server.shutdown()
    running.server.server_close()


def test_with_a_collector_configured_the_trace_goes_there(
    tmp_path: Path, receiver: Receiver
) -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=test",
    }
    with launch(tmp_path, env) as platform:
        order_id = place_order(platform)

        def trace_of_order() -> list[tuple[str, Any]]:
            spans = receiver.spans()
            ids = {
                span.trace_id
                for _, span in spans
                for a in span.attributes
                if a.key == "bazaar.order_id" and a.value.string_value == order_id
            }
            return [(service, span) for service, span in spans if span.trace_id in ids]

        found = spans_until(
            trace_of_order,
            lambda spans: (
                {service for service, _ in spans} >= SERVICES
                and {(service, span.name) for service, span in spans} >= HANDLERS
            ),
        )

    assert {service for service, _ in found} >= SERVICES
    assert len({span.trace_id for _, span in found}) == 1
    ids = {span.span_id for _, span in found}
    assert [s for _, s in found if not s.parent_span_id] == [
        s for service, s in found if service == "gateway" and s.kind == s.SPAN_KIND_SERVER
        and not s.parent_span_id
    ]  # fmt: skip
    assert all(not s.parent_span_id or s.parent_span_id in ids for _, s in found)
    assert not (tmp_path / "var" / "traces.db").exists()  # the collector has them instead


def test_tracing_off_leaves_nothing_behind(tmp_path: Path) -> None:
    with launch(tmp_path, {"BAZAAR_OTEL_ENABLED": "false"}) as platform:
        place_order(platform)
        missing = httpx.get(platform.gateway + "/api/catalog/products/999999999", timeout=10.0)
        output = platform.output()

    assert missing.status_code == 404
    assert "trace_id" not in missing.json()
    assert "trace_id" not in output and "span_id" not in output
    assert not list(tmp_path.rglob("traces.db*"))
