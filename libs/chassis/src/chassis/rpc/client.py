"""RpcClient: how a service calls another one over gRPC, with what ServiceClient gives HTTP.

The same `ClientPolicy` as `ServiceClient`: a deadline per attempt (the read timeout),
stamina retries with jitter on idempotent calls only, the circuit breaker, the optional
bulkhead; plus the request id (and trace context, `chassis.rpc.propagation`) in the
metadata and per-call metrics. An upstream that is down, too slow or broken becomes a
502/503/504 problem as on HTTP; an answer (NOT_FOUND, INVALID_ARGUMENT, ...) is an
`RpcAnswer` for the caller to read.

The channel opens on the first call, never at construction: a channel made in `bazaar
up`'s preloaded parent would not survive `fork()`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import google.rpc.error_details_pb2 as error_details_pb2
import grpc
from grpc_status import rpc_status

from chassis.errors import BadGateway, GatewayTimeout, ServiceUnavailable
from chassis.http import ClientPolicy
from chassis.rpc import propagation
from chassis.rpc.metrics import CLIENT_CALLS, CLIENT_LATENCY
from chassis.rpc.server import MAX_MESSAGE_BYTES

StubT = TypeVar("StubT")
# Worth another attempt of an idempotent call: the upstream may answer the next one.
RETRYABLE_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
# The upstream's fault: these count against its circuit. Every other code is an answer.
FAILURE_CODES = RETRYABLE_CODES | {
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.DATA_LOSS,
}


class _UpstreamFailed(Exception):
    """An attempt failed on the upstream's side (retried when the call is idempotent)."""

    def __init__(self, error: grpc.RpcError) -> None:
        super().__init__(str(error))
        self.error = error


class _Retryable(_UpstreamFailed):
    """A failed attempt worth repeating."""


@dataclass
class RpcAnswer(Exception):
    """The upstream answered with a status other than OK that is not its own failure."""

    code: grpc.StatusCode
    message: str
    reason: str | None = None
    field_violations: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"


def answer_of(error: grpc.RpcError) -> RpcAnswer:
    """What a non-OK status says: its code, message, `ErrorInfo` reason, field violations."""
    call: Any = error
    answer = RpcAnswer(code=call.code(), message=call.details() or "")
    status = rpc_status.from_call(call)
    for detail in status.details if status is not None else ():
        info = error_details_pb2.ErrorInfo()
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(info):
            answer.reason = info.reason
        elif detail.Unpack(bad):
            answer.field_violations = {v.field: v.description for v in bad.field_violations}
    return answer


def _code(error: grpc.RpcError) -> grpc.StatusCode:
    code: grpc.StatusCode = error.code()
    return code


def translate(name: str, error: _UpstreamFailed) -> Exception:
    """The problem a caller sees when an upstream gRPC call finally failed."""
    code = _code(error.error)
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return GatewayTimeout(f"{name} did not answer in time.")
    if code is grpc.StatusCode.UNAVAILABLE:
        return ServiceUnavailable(f"{name} is unavailable.")
    return BadGateway(f"{name} failed: {code.name}.")


class RpcClient(Generic[StubT]):
    """A client for one upstream's gRPC service (`stub` is the generated stub class)."""

    def __init__(self, target: str, stub: Callable[[grpc.Channel], StubT], policy: ClientPolicy):
        self.target = target
        self.policy = policy
        self._make_stub = stub
        self._lock = threading.Lock()
        self._channel: grpc.Channel | None = None
        self._stub: StubT | None = None

    @property
    def stub(self) -> StubT:
        """The generated stub on a channel opened on first use."""
        with self._lock:
            if self._stub is None:
                self._channel = grpc.insecure_channel(
                    self.target,
                    options=[
                        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                        # Retries are ours (stamina, within the retry budget), not the
                        # channel's as well.
                        ("grpc.enable_retries", 0),
                        # A dead connection is noticed between calls, not by a call.
                        ("grpc.keepalive_time_ms", 30_000),
                    ],
                )
                self._stub = self._make_stub(self._channel)
            return self._stub

    def call(
        self,
        method: str,
        request: Any,
        *,
        idempotent: bool,
        authorization: str | None = None,
    ) -> Any:
        """Call `method` of the stub; raise a problem (502/503/504) or an `RpcAnswer`."""
        if self.policy.bulkhead is None:
            return self._call(method, request, idempotent=idempotent, authorization=authorization)
        # Taken before the breaker: a full bulkhead says nothing about the upstream's health.
        with self.policy.bulkhead.slot():
            return self._call(method, request, idempotent=idempotent, authorization=authorization)

    def _call(
        self, method: str, request: Any, *, idempotent: bool, authorization: str | None
    ) -> Any:
        callable_ = getattr(self.stub, method)
        extra = [(propagation.AUTHORIZATION_KEY, authorization)] if authorization else []
        attempts = self.policy.attempts if idempotent else 1
        timeout = self.policy.timeout.read
        started = time.perf_counter()
        answer: RpcAnswer | None = None
        try:
            with self.policy.guard(failures=(_UpstreamFailed,)):
                for attempt in self.policy.retrying(attempts, on=(_Retryable,)):
                    with attempt:
                        try:
                            response = callable_(
                                request, timeout=timeout, metadata=propagation.outgoing(extra)
                            )
                        except grpc.RpcError as exc:
                            code = _code(exc)
                            CLIENT_CALLS.labels(self.policy.name, method, code.name).inc()
                            if code in RETRYABLE_CODES and attempts > 1:
                                raise _Retryable(exc) from exc
                            if code in FAILURE_CODES:
                                raise _UpstreamFailed(exc) from exc
                            # An answer: the upstream is healthy, the breaker hears success.
                            answer = answer_of(exc)
                        else:
                            CLIENT_CALLS.labels(self.policy.name, method, "OK").inc()
        except _UpstreamFailed as exc:
            raise translate(self.policy.name, exc) from exc
        finally:
            CLIENT_LATENCY.labels(self.policy.name, method).observe(time.perf_counter() - started)
        if answer is not None:
            raise answer
        return response

    def close(self) -> None:
        """Close the channel."""
        with self._lock:
            if self._channel is not None:
                self._channel.close()
            self._channel = None
            self._stub = None
