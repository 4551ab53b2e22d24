"""What travels with a gRPC call besides its message: the request id, and trace context.

The one place where call context crosses the wire: `outgoing()` on the client side,
`incoming()` on the server side. Trace context (W3C `traceparent`) belongs here too, next
to the request id, so neither interceptor needs to change when it is added.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from chassis.requestid import accept_or_generate, current_request_id, set_request_id

# gRPC metadata keys are lower case (HTTP/2 header names).
REQUEST_ID_KEY = "x-request-id"
AUTHORIZATION_KEY = "authorization"

Metadata = Sequence[tuple[str, str | bytes]]


def outgoing(extra: Iterable[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """The metadata a call carries: `extra`, then the current request id."""
    metadata = list(extra)
    request_id = current_request_id()
    if request_id and all(key != REQUEST_ID_KEY for key, _ in metadata):
        metadata.append((REQUEST_ID_KEY, request_id))
    # Trace context is injected here (one hook for every client call).
    return metadata


def incoming(metadata: Metadata | None) -> dict[str, str]:
    """Bind the caller's request id (or a new one) to this context; the text metadata."""
    values = {key: value for key, value in metadata or () if isinstance(value, str)}
    set_request_id(accept_or_generate(values.get(REQUEST_ID_KEY)))
    # Trace context is extracted here (one hook for every served call).
    return values
