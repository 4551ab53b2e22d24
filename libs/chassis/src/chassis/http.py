"""ServiceClient: how a service calls another one.

Pooled connections, explicit timeouts, retries with jitter on idempotent calls only
(stamina), a circuit breaker, an optional bulkhead (a cap on calls in flight), and the
request id propagated.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.cookiejar
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeAlias

import httpx
import stamina

from chassis import tracing
from chassis.breaker import BreakerGuard, CircuitBreaker
from chassis.errors import BadGateway, GatewayTimeout, ServiceUnavailable
from chassis.requestid import REQUEST_ID_HEADER, current_request_id

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRYABLE_STATUSES = frozenset({502, 503, 504})

# Raw byte pairs keep repeated headers and non-ASCII values intact (what a proxy forwards).
HeaderInput: TypeAlias = Mapping[str, str] | Sequence[tuple[bytes, bytes]]


class NoCookieJar(http.cookiejar.CookieJar):
    """A jar that keeps nothing.

    One client serves every caller of a service (and the gateway proxies every user
    through one), so a cookie set in one caller's response must never ride along
    on another caller's request; cookies pass only as explicit headers.
    """

    def extract_cookies(self, response: Any, request: Any) -> None:
        """Ignore Set-Cookie."""

    def set_cookie(self, cookie: http.cookiejar.Cookie) -> None:
        """Store nothing."""


class RetryableStatus(Exception):
    """An upstream answered with a status worth retrying on an idempotent call."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"upstream answered {response.status_code}")
        self.response = response


class Bulkhead:
    """At most `limit` calls to one upstream in flight per process; the next waits briefly.

    A frozen neighbour holds every call until its timeout: without a cap it would hold every
    thread of the caller too, and the caller's own probes and other routes would queue. A
    call finding the cap full waits up to `wait` seconds for a slot, so a burst of calls to
    a healthy upstream (each a few milliseconds) queues instead of failing, while a frozen
    one costs the others at most that wait.
    """

    def __init__(self, name: str, limit: int, *, wait: float = 0.2) -> None:
        if limit < 1:
            raise ValueError("a bulkhead needs room for at least one call")
        self.name = name
        self.limit = limit
        self.wait = wait
        self._slots = threading.BoundedSemaphore(limit)
        self._count_lock = threading.Lock()
        self.in_flight = 0

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot for a call; 503 with Retry-After when none is free in time."""
        if not self._slots.acquire(timeout=self.wait):
            raise ServiceUnavailable(
                f"{self.name} is busy (too many calls in flight); try again.",
                headers={"Retry-After": "1"},
            )
        with self._count_lock:
            self.in_flight += 1
        try:
            yield
        finally:
            with self._count_lock:
                self.in_flight -= 1
            self._slots.release()


class ClientPolicy:
    """Timeouts, retry and breaker settings shared by the sync and async clients."""

    def __init__(
        self,
        *,
        name: str,
        connect_timeout: float = 1.0,
        read_timeout: float = 5.0,
        attempts: int = 3,
        retry_budget_seconds: float = 5.0,
        breaker_fail_max: int = 5,
        breaker_reset_seconds: float = 1.0,
        max_connections: int = 100,
        keepalive_expiry: float = 4.0,
        max_in_flight: int | None = None,
    ) -> None:
        self.name = name
        # Per process, across threads; None leaves the sync client uncapped.
        self.bulkhead = Bulkhead(name, max_in_flight) if max_in_flight else None
        self.timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        self.attempts = attempts
        self.retry_budget = retry_budget_seconds
        # Shorter than gunicorn's keep-alive so the pool drops a connection before the
        # server closes it; retries cover the remaining race.
        self.limits = httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=keepalive_expiry,
        )
        # One trial a second: an upstream back from an outage (a database restart makes it
        # answer 503 for a second or two) is called again within a second, and a dead one
        # costs one failed call a second per process.
        self.breaker = CircuitBreaker(
            fail_max=breaker_fail_max, reset_seconds=breaker_reset_seconds
        )

    def headers(self, extra: HeaderInput | None) -> httpx.Headers:
        """Outgoing headers with the current request id."""
        headers = httpx.Headers(extra)
        request_id = current_request_id()
        # httpx.Headers compares names case-insensitively, so a lower-case
        # `x-request-id` from the caller is not sent twice.
        if request_id and REQUEST_ID_HEADER not in headers:
            headers[REQUEST_ID_HEADER] = request_id
        if tracing.TRACEPARENT not in headers:
            tracing.inject(headers)
        return headers

    def attempts_for(self, method: str, *, retry: bool | None) -> int:
        """How many tries a call gets: more than one only when it is safe to repeat."""
        safe = method.upper() in IDEMPOTENT_METHODS if retry is None else retry
        return self.attempts if safe else 1

    def guard(
        self, failures: tuple[type[BaseException], ...] = (httpx.HTTPError, RetryableStatus)
    ) -> BreakerGuard:
        """The breaker around one logical call: refused at once while the circuit is open.

        Transport errors, undecodable answers and 502/503/504 (retried or not) count against
        the upstream (a gRPC client names its own `failures`); a call cancelled or failing
        locally only frees a half-open trial.
        """
        return self.breaker.guard(
            failures=failures,
            refused=lambda: ServiceUnavailable(f"{self.name} is unavailable (circuit open)."),
        )

    def retrying(
        self,
        attempts: int,
        on: tuple[type[Exception], ...] = (httpx.TransportError, RetryableStatus),
    ) -> Any:
        """Stamina's retry context for one call: backoff with jitter within the budget."""
        return stamina.retry_context(
            on=on,
            attempts=attempts,
            timeout=dt.timedelta(seconds=self.retry_budget),
            wait_initial=0.05,
            wait_max=1.0,
            wait_jitter=0.1,
        )


def translate(name: str, error: BaseException) -> Exception:
    """The problem a caller sees when an upstream call finally failed."""
    if isinstance(error, httpx.TimeoutException):
        return GatewayTimeout(f"{name} did not answer in time.")
    if isinstance(error, RetryableStatus):
        return ServiceUnavailable(f"{name} is unavailable ({error.response.status_code}).")
    if isinstance(error, httpx.ConnectError):
        return ServiceUnavailable(f"{name} is unreachable.")
    return BadGateway(f"{name} failed: {type(error).__name__}.")


class ServiceClient:
    """A synchronous client for one upstream service."""

    def __init__(self, base_url: str, policy: ClientPolicy) -> None:
        self.policy = policy
        self._client = httpx.Client(
            base_url=base_url,
            timeout=policy.timeout,
            limits=policy.limits,
            cookies=NoCookieJar(),
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        retry: bool | None = None,
        headers: HeaderInput | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send a request; raise a problem (502/503/504) when the upstream is unusable."""
        if self.policy.bulkhead is None:
            return self._request(method, path, retry=retry, headers=headers, **kwargs)
        # Taken before the breaker: a full bulkhead says nothing about the upstream's health.
        with self.policy.bulkhead.slot():
            return self._request(method, path, retry=retry, headers=headers, **kwargs)

    def _request(
        self,
        method: str,
        path: str,
        *,
        retry: bool | None,
        headers: HeaderInput | None,
        **kwargs: Any,
    ) -> httpx.Response:
        attempts = self.policy.attempts_for(method, retry=retry)
        # One span per logical call (retries inside it), so the callee's spans hang below it.
        with tracing.client_span(
            f"{method.upper()} {self.policy.name}",
            **{"http.request.method": method.upper(), "server.address": self.policy.name,
               "url.path": path},
        ) as span:  # fmt: skip
            response = self._call(method, path, attempts, headers, **kwargs)
            if span.is_recording():
                span.set_attribute("http.response.status_code", response.status_code)
                if response.status_code >= 500:
                    tracing.record_error(f"{self.policy.name} answered {response.status_code}")
            return response

    def _call(
        self, method: str, path: str, attempts: int, headers: HeaderInput | None, **kwargs: Any
    ) -> httpx.Response:
        try:
            with self.policy.guard() as call:
                for attempt in self.policy.retrying(attempts):
                    with attempt:
                        response = self._client.request(
                            method, path, headers=self.policy.headers(headers), **kwargs
                        )
                        if response.status_code in RETRYABLE_STATUSES and attempts > 1:
                            raise RetryableStatus(response)
                if response.status_code in RETRYABLE_STATUSES:
                    call.fail()
        except (httpx.HTTPError, RetryableStatus) as exc:
            # Not only transport errors: an undecodable body is the upstream's fault too.
            raise translate(self.policy.name, exc) from exc
        return response

    def close(self) -> None:
        """Close pooled connections."""
        self._client.close()
