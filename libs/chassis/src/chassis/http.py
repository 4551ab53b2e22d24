"""ServiceClient: how a service calls another one.

Pooled connections, explicit timeouts, retries with jitter on idempotent calls only
(stamina), a circuit breaker, and the request id propagated.
"""

from __future__ import annotations

import datetime as dt
import http.cookiejar
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import httpx
import stamina

from chassis.breaker import BreakerState, CircuitBreaker
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
        breaker_reset_seconds: float = 10.0,
        max_connections: int = 100,
        keepalive_expiry: float = 4.0,
    ) -> None:
        self.name = name
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
        return headers

    def attempts_for(self, method: str, *, retry: bool | None) -> int:
        """How many tries a call gets: more than one only when it is safe to repeat."""
        safe = method.upper() in IDEMPOTENT_METHODS if retry is None else retry
        return self.attempts if safe else 1

    def admit(self) -> None:
        """Refuse the call at once while the circuit is open."""
        if not self.breaker.allow():
            raise ServiceUnavailable(f"{self.name} is unavailable (circuit open).")

    def retrying(self, attempts: int) -> Any:
        """Stamina's retry context for one call: backoff with jitter within the budget."""
        return stamina.retry_context(
            on=(httpx.TransportError, RetryableStatus),
            attempts=attempts,
            timeout=dt.timedelta(seconds=self.retry_budget),
            wait_initial=0.05,
            wait_max=1.0,
            wait_jitter=0.1,
        )

    def record(self, error: BaseException | None) -> None:
        """Feed the breaker the outcome of one logical call."""
        if error is None:
            self.breaker.success()
        elif isinstance(error, httpx.HTTPError | RetryableStatus):
            self.breaker.failure()

    def record_answer(self, response: httpx.Response) -> None:
        """Feed the breaker an answered call: 502/503/504 count as failures even unretried."""
        self.record(
            RetryableStatus(response) if response.status_code in RETRYABLE_STATUSES else None
        )

    def abandon(self) -> None:
        """A call ended without a verdict (cancelled, or a local error): free a half-open trial.

        Without this the breaker would wait forever for the trial's outcome and refuse
        every later call; counting it as a failure re-opens the circuit for one period.
        """
        if self.breaker.state is BreakerState.HALF_OPEN:
            self.breaker.failure()


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
        self.policy.admit()
        attempts = self.policy.attempts_for(method, retry=retry)
        try:
            for attempt in self.policy.retrying(attempts):
                with attempt:
                    response = self._client.request(
                        method, path, headers=self.policy.headers(headers), **kwargs
                    )
                    if response.status_code in RETRYABLE_STATUSES and attempts > 1:
                        raise RetryableStatus(response)
        except (httpx.HTTPError, RetryableStatus) as exc:
            # Not only transport errors: an undecodable body is the upstream's fault too.
            self.policy.record(exc)
            raise translate(self.policy.name, exc) from exc
        except BaseException:
            self.policy.abandon()
            raise
        self.policy.record_answer(response)
        return response

    def close(self) -> None:
        """Close pooled connections."""
        self._client.close()
