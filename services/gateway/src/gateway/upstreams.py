"""The services behind the gateway: their instances, balanced, health-checked, failed over.

Each instance has its own connection pool (`gateway.client`). A background task (the app's
lifespan) probes every instance's `/livez`; failed probes, and requests that could not reach
an instance, eject it; probes take it back. A request goes to the healthy instance with the
fewest requests in flight and, when the instance fails it, to the next one if that is safe
(ADR 0009).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
from opentelemetry.trace import Span, Status, StatusCode
from prometheus_client import Counter, Gauge

from chassis import tracing
from chassis.errors import ServiceUnavailable
from chassis.http import RETRYABLE_STATUSES, NoCookieJar, RetryableStatus, translate
from chassis.logging import get_logger
from chassis.requestid import REQUEST_ID_HEADER, current_request_id
from gateway.balancing import Health, LeastOutstanding
from gateway.client import ConnectionPool, UpstreamResponse
from gateway.settings import GatewaySettings

log = get_logger("gateway.upstreams")

# Document fetches must answer fast, whatever the proxy timeouts are.
PROBE_TIMEOUT = 0.5
# No new try starts this long after the first one: a retry must not outlast the caller.
RETRY_BUDGET = 5.0
# The connection failed before any byte of the request left: safe to send it elsewhere.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Failures that say the instance is gone or broken; a read timeout only says it is slow
# (or the endpoint is), and the probes judge that.
INSTANCE_FAILURES = (httpx.NetworkError, httpx.ConnectTimeout, httpx.RemoteProtocolError)
_REQUEST_ID = REQUEST_ID_HEADER.lower().encode()

# `endpoint`, not `instance`: Prometheus gives every scraped series an `instance` label.
EJECTIONS = Counter(
    "gateway_upstream_ejections_total",
    "Upstream instances taken out of balancing after failed health checks or requests.",
    ["upstream", "endpoint"],
)
HEALTHY = Gauge(
    "gateway_upstream_healthy",
    "1 while an upstream instance takes requests, 0 while it is ejected.",
    ["upstream", "endpoint"],
    # Under several gateway workers each judges on its own: report the worst verdict.
    multiprocess_mode="livemin",
)
ATTEMPTS = Counter(
    "gateway_upstream_attempts_total",
    "Requests sent to each upstream instance, by outcome: answered, not-sent (the "
    "connection failed, so it was tried elsewhere) or failed (after it was sent).",
    ["upstream", "endpoint", "outcome"],
)


@dataclass(eq=False)
class Instance:
    """One address of a service, its connection pool, its health and its load."""

    upstream: str
    endpoint: str  # the configured URL
    pool: ConnectionPool
    health: Health
    outstanding: int = 0
    error: Exception | None = None  # what its last failure looked like to a caller
    base_url: httpx.URL = field(init=False)
    answered: Counter = field(init=False)  # ATTEMPTS' child, looked up once

    def __post_init__(self) -> None:
        self.base_url = httpx.URL(self.endpoint)
        self.answered = ATTEMPTS.labels(self.upstream, self.endpoint, "answered")

    def url_for(self, raw_path: bytes) -> httpx.URL:
        """The absolute URL of a raw path and query on this instance, kept byte for byte."""
        # An absolute URL is never merged with a base URL, so a path such as
        # `//other-host/x` stays a path on this instance.
        base = self.base_url
        return base.copy_with(raw_path=base.raw_path.rstrip(b"/") + raw_path)

    def failed(self, error: Exception, cause: str) -> None:
        """Count a failed probe or an unreachable request; eject at the threshold."""
        self.error = error
        if self.health.failed():
            EJECTIONS.labels(self.upstream, self.endpoint).inc()
            HEALTHY.labels(self.upstream, self.endpoint).set(0)
            log.warning(
                "upstream instance ejected",
                upstream=self.upstream,
                endpoint=self.endpoint,
                cause=cause,
                error=str(error),
            )

    def succeeded(self) -> None:
        """Count a passed probe; take the instance back at the threshold."""
        if self.health.succeeded():
            HEALTHY.labels(self.upstream, self.endpoint).set(1)
            log.info("upstream instance back", upstream=self.upstream, endpoint=self.endpoint)

    def problem(self) -> Exception:
        """A fresh copy of the error its ejection is about, for the readiness report."""
        # Fresh: raising one exception object again and again would grow its traceback.
        error = self.error or ServiceUnavailable(f"{self.upstream} is ejected.")
        return type(error)(*error.args)


class Upstream:
    """One service: its instances, the order a request tries them in, and failover."""

    def __init__(self, name: str, instances: Sequence[Instance], *, attempts: int) -> None:
        self.name = name
        self.instances = tuple(instances)
        self.attempts = attempts
        self.balancer = LeastOutstanding()

    @asynccontextmanager
    async def exchange(
        self,
        method: str,
        target: bytes,
        *,
        replayable: bool,
        headers: Sequence[tuple[bytes, bytes]] = (),
        content: bytes | None = None,
        timeout: float | None = None,
    ) -> AsyncIterator[tuple[Instance, UpstreamResponse]]:
        """Send a request to an instance; yield it and its streamed response.

        A connection that fails is retried on the next instance whatever the method; a
        request that failed after it was sent, or was answered 502/503/504, only when
        `replayable`. The instance counts the request as in flight until the block ends.
        Raises a 502/503/504 problem when no try succeeded.
        """
        span = tracing.start_client_span(
            f"{method} {self.name}",
            **{"http.request.method": method, "server.address": self.name},
        )
        try:
            instance, response = await self._send(
                method, target, replayable, _with_trace(headers, span), content, timeout
            )
        except BaseException as exc:
            if span.is_recording():
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            span.end()
            raise
        if span.is_recording():
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500:
                span.set_status(Status(StatusCode.ERROR, f"HTTP {response.status_code}"))
        try:
            yield instance, response
        finally:
            instance.outstanding -= 1
            span.end()
            await response.aclose()

    async def _send(
        self,
        method: str,
        target: bytes,
        replayable: bool,
        headers: Sequence[tuple[bytes, bytes]],
        content: bytes | None,
        timeout: float | None,
    ) -> tuple[Instance, UpstreamResponse]:
        order = self.balancer.order(self.instances)
        attempts = self.attempts
        if not order[0].health.healthy:
            # Every instance is ejected: each still gets one try, as the checks may be
            # wrong, but no second one, so a service that is down fails fast.
            attempts = min(attempts, len(order))
        headers = _with_request_id(headers)
        call_timeout = httpx.Timeout(timeout) if timeout is not None else None
        started = time.monotonic()
        tried: set[Instance] = set()
        error: Exception | None = None
        for attempt in range(attempts):
            if attempt and time.monotonic() - started >= RETRY_BUDGET:
                break
            instance = order[attempt % len(order)]
            if instance in tried:  # one instance (or all) tried already: back off first
                await asyncio.sleep(_backoff(attempt))
            tried.add(instance)
            instance.outstanding += 1
            try:
                response = await instance.pool.send(method, target, headers, content, call_timeout)
            except httpx.HTTPError as exc:
                instance.outstanding -= 1
                error = exc
                sent = not isinstance(exc, NOT_SENT)
                outcome = "failed" if sent else "not-sent"
                ATTEMPTS.labels(self.name, instance.endpoint, outcome).inc()
                if isinstance(exc, INSTANCE_FAILURES):
                    instance.failed(translate(self.name, exc), cause="request")
                if sent and not replayable:
                    break  # its bytes reached an instance: never twice
                continue
            except BaseException:
                instance.outstanding -= 1
                raise
            instance.answered.inc()
            retry_left = attempt + 1 < attempts and time.monotonic() - started < RETRY_BUDGET
            if response.status_code in RETRYABLE_STATUSES and replayable and retry_left:
                instance.outstanding -= 1
                await response.aclose()
                error = RetryableStatus(response)
                continue
            return instance, response
        assert error is not None  # noqa: S101 - the loop runs at least once
        raise translate(self.name, error) from error


def _with_request_id(headers: Sequence[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The headers with the current request id, so the upstream's logs join ours."""
    request_id = current_request_id()
    if request_id is None or any(name.lower() == _REQUEST_ID for name, _ in headers):
        return list(headers)
    return [*headers, (_REQUEST_ID, request_id.encode("latin-1"))]


def _with_trace(
    headers: Sequence[tuple[bytes, bytes]], span: Span
) -> Sequence[tuple[bytes, bytes]]:
    """The headers with the trace context by hand (ADR 0012: no client instrumentation)."""
    pairs = tracing.traceparent_pairs(span)
    if not pairs:
        return headers
    # A client's own traceparent was read by our server span; the upstream gets ours.
    kept = [(k, v) for k, v in headers if k.lower() not in (b"traceparent", b"tracestate")]
    return [*kept, *pairs]


def _backoff(attempt: int) -> float:
    """Seconds before trying an instance again: exponential, capped, with jitter."""
    return min(1.0, 0.05 * 2.0 ** (attempt - 1)) + random.uniform(0, 0.05)  # noqa: S311


class Upstreams:
    """Every configured service; clients and health checks run between `open()` and `aclose()`."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.urls = dict(settings.upstreams)
        self._settings = settings
        self._open: dict[str, Upstream] = {}
        self._probe_client: httpx.AsyncClient | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._probed = asyncio.Event()

    @property
    def names(self) -> list[str]:
        """The configured upstream names, in configuration order."""
        return list(self.urls)

    async def open(self) -> None:
        """Create a pooled client per instance and start the health checks (app lifespan)."""
        settings = self._settings
        timeout = httpx.Timeout(
            settings.upstream_read_timeout, connect=settings.upstream_connect_timeout
        )
        # One TLS context for every pool: each costs ~20 ms to build (it loads the CAs).
        tls = httpx.create_ssl_context()

        def pool(url: str) -> ConnectionPool:
            # Idle connections expire before gunicorn's keep-alive (75 s) closes them.
            return ConnectionPool(
                url, timeout=timeout, max_connections=100, keepalive_expiry=4.0, ssl_context=tls
            )

        for name, urls in self.urls.items():
            instances = [
                Instance(
                    name,
                    url,
                    pool(url),
                    Health(
                        settings.upstream_unhealthy_threshold, settings.upstream_healthy_threshold
                    ),
                )
                for url in urls
            ]
            for instance in instances:
                HEALTHY.labels(name, instance.endpoint).set(1)
            self._open[name] = Upstream(name, instances, attempts=settings.upstream_attempts)
        # Probes have a pool of their own: a pool full of slow requests must not fail them.
        # Once a second per instance, so httpx's cost per call does not matter here.
        self._probe_client = httpx.AsyncClient(
            verify=tls,
            cookies=NoCookieJar(),
            timeout=settings.upstream_health_timeout,
            limits=httpx.Limits(keepalive_expiry=4.0),
        )
        self._probed = asyncio.Event()
        self._watcher = asyncio.create_task(self._watch(), name="gateway-health-checks")

    async def aclose(self) -> None:
        """Stop the health checks and close every connection."""
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        opened, self._open = self._open, {}
        for upstream in opened.values():
            for instance in upstream.instances:
                await instance.pool.aclose()
        if self._probe_client is not None:
            await self._probe_client.aclose()
            self._probe_client = None

    def __getitem__(self, name: str) -> Upstream:
        try:
            return self._open[name]
        except KeyError:
            raise RuntimeError(f"upstream {name!r} is not open; run the app's lifespan") from None

    # -- health checks ------------------------------------------------------------------

    async def _watch(self) -> None:
        """Probe every instance, then wait the interval; until cancelled."""
        while True:
            try:
                await self.probe_all()
            except Exception:  # a bug here must not end health checking for good
                log.error("health check round failed", exc_info=True)
            self._probed.set()
            await asyncio.sleep(self._settings.upstream_health_interval)

    async def probe_all(self) -> None:
        """One round of health checks, every instance at once."""
        instances = [i for upstream in self._open.values() for i in upstream.instances]
        await asyncio.gather(*(self._probe(instance) for instance in instances))

    async def _probe(self, instance: Instance) -> None:
        assert self._probe_client is not None  # noqa: S101 - only runs while open
        try:
            response = await self._probe_client.get(instance.url_for(b"/livez"))
        except httpx.HTTPError as exc:
            instance.failed(translate(instance.upstream, exc), cause="health-check")
            return
        if response.status_code != 200:
            detail = f"{instance.upstream} /livez answered {response.status_code}."
            instance.failed(ServiceUnavailable(detail), cause="health-check")
            return
        instance.succeeded()

    # -- readiness ----------------------------------------------------------------------

    def liveness_checks(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """Readiness entries: each service, and each instance of a service that has several.

        A service fails when every instance is ejected, an instance while it is ejected,
        each with the error that ejected it. They read the health checks' verdicts (after
        the first round), so `/readyz` says what balancing does and costs no probe.
        """

        def service_check(name: str) -> Callable[[], Awaitable[None]]:
            async def check() -> None:
                await self._first_round()
                instances = self[name].instances
                if not any(instance.health.healthy for instance in instances):
                    raise instances[0].problem()

            return check

        def instance_check(name: str, index: int) -> Callable[[], Awaitable[None]]:
            async def check() -> None:
                await self._first_round()
                instance = self[name].instances[index]
                if not instance.health.healthy:
                    raise instance.problem()

            return check

        checks = {}
        for name, urls in self.urls.items():
            checks[f"upstream:{name}"] = service_check(name)
            if len(urls) > 1:
                for index, url in enumerate(urls):
                    checks[f"upstream:{name}@{url}"] = instance_check(name, index)
        return checks

    async def _first_round(self) -> None:
        """Wait (briefly) for the first verdicts, so a fresh gateway reports no guesses."""
        # A probe takes at most its connect timeout plus its read timeout.
        limit = 2 * self._settings.upstream_health_timeout + 0.5
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._probed.wait(), limit)
