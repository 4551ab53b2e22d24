"""Bearer tokens checked at the edge: a bad one is refused before any upstream sees it."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.concurrency import run_in_threadpool

from chassis.auth import TokenVerifier, bearer_token
from chassis.errors import BadRequest, Unauthorized

# RFC 6750 §3.1: tells the client to get a new token rather than retry this one.
REJECTED_BEARER_CHALLENGE = 'Bearer realm="bazaar", error="invalid_token"'


async def verify_bearer(verifier: TokenVerifier | None, authorizations: Sequence[bytes]) -> None:
    """Raise 401 when a bearer token does not verify; let anything else through unchanged."""
    if len(authorizations) > 1:
        # Two credentials would let the gateway check one and a service use the other.
        raise BadRequest("Send at most one Authorization header.")
    if verifier is None or not authorizations:
        return
    value = authorizations[0].decode("latin-1")
    if value.partition(" ")[0].lower() != "bearer":
        return
    token = bearer_token(value)
    if token is None:
        return
    try:
        # A JWKS refresh is blocking network I/O, so it must stay off the event loop.
        await run_in_threadpool(verifier.verify, token)
    except Unauthorized as exc:
        raise Unauthorized(
            exc.detail, headers={"WWW-Authenticate": REJECTED_BEARER_CHALLENGE}
        ) from exc
