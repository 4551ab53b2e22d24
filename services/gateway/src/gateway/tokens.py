"""Bearer tokens checked at the edge: a bad one is refused before any upstream sees it."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from starlette.concurrency import run_in_threadpool

from chassis.auth import Principal, TokenVerifier, bearer_token, verifier_from_settings
from chassis.breaker import CircuitBreaker, CircuitOpen
from chassis.errors import BadRequest, Unauthorized
from chassis.revocation import (
    RevocationList,
    RevocationListLost,
    RevocationUnavailable,
    revocation_list,
)
from gateway.settings import GatewaySettings

# RFC 6750 §3.1: tells the client to get a new token rather than retry this one.
REJECTED_BEARER_CHALLENGE = 'Bearer realm="bazaar", error="invalid_token"'


class GuardedRevocationList:
    """A revocation list behind a circuit breaker: a dead store fails calls at once."""

    # Redis' client waits out its timeout (and retries) on every call; with the breaker
    # open the verifier answers 503 without touching the network. It tries again after one
    # second: signed-in requests answer 503 until a trial succeeds, so a longer period would
    # hold them there for that long after Redis is back.

    def __init__(self, inner: RevocationList, breaker: CircuitBreaker | None = None) -> None:
        self.inner = inner
        self.breaker = breaker or CircuitBreaker(fail_max=3, reset_seconds=1.0)

    def revoke(self, jti: str, expires_at: int) -> None:
        """Record `jti` (the gateway never does; here to satisfy the protocol)."""
        self.inner.revoke(jti, expires_at)

    def is_revoked(self, jti: str) -> bool:
        """Ask the store unless its circuit is open; raise RevocationUnavailable when down."""
        try:
            with self.breaker.guard(failures=(RevocationUnavailable, sqlite3.Error)):
                try:
                    return self.inner.is_revoked(jti)
                except RevocationListLost as exc:
                    # The store answered (it lost its data, auth refills it within a second):
                    # a healthy store, so the guard records a success, or the breaker would
                    # outlast the refill.
                    lost = exc
            raise lost
        except CircuitOpen as exc:
            raise RevocationUnavailable("the revocation store's circuit is open") from exc
        except sqlite3.Error as exc:  # the local list raises these as they come (a locked file)
            raise RevocationUnavailable(str(exc)) from exc


def edge_verifier(
    settings: GatewaySettings,
) -> tuple[TokenVerifier | None, GuardedRevocationList | None]:
    """The chassis verifier, consulting the revocation list through a breaker."""
    if not (settings.jwt_public_key or settings.jwks_url):
        return None, None
    revocations = GuardedRevocationList(revocation_list(settings.redis_url, settings.data_dir))
    return verifier_from_settings(settings, revocations=revocations), revocations


async def verify_bearer(
    verifier: TokenVerifier | None, authorizations: Sequence[bytes]
) -> Principal | None:
    """The caller of a verified bearer token; 401 when it does not verify, None without one."""
    if len(authorizations) > 1:
        # Two credentials would let the gateway check one and a service use the other.
        raise BadRequest("Send at most one Authorization header.")
    if verifier is None or not authorizations:
        return None
    value = authorizations[0].decode("latin-1")
    if value.partition(" ")[0].lower() != "bearer":
        return None
    token = bearer_token(value)
    if token is None:
        return None
    try:
        # A JWKS refresh is blocking network I/O, so it must stay off the event loop.
        return await run_in_threadpool(verifier.verify, token)
    except Unauthorized as exc:
        raise Unauthorized(
            exc.detail, headers={"WWW-Authenticate": REJECTED_BEARER_CHALLENGE}
        ) from exc
