"""Bearer tokens a service presents when it calls another service.

A `ServiceToken` keeps one access token and fetches a new one shortly before it expires.
Services get theirs from auth's token endpoint (`client_credentials`, RFC 6749 §4.4);
auth itself signs its own, so the fetch is any function that returns an `IssuedToken`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote_plus

from chassis.errors import ServiceUnavailable
from chassis.http import ServiceClient


@dataclass(frozen=True)
class IssuedToken:
    """An access token and how many seconds it stays valid."""

    access_token: str
    expires_in: float


class ServiceToken:
    """One cached access token, renewed `renew_before` seconds ahead of its expiry."""

    def __init__(
        self,
        fetch: Callable[[], IssuedToken],
        *,
        renew_before: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._renew_before = renew_before
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0

    def get(self) -> str:
        """The current token, fetched when there is none or it is about to expire."""
        with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                issued = self._fetch()
                # Short-lived tokens are renewed at half-life rather than never reused.
                margin = min(self._renew_before, issued.expires_in / 2)
                self._token = issued.access_token
                self._renew_at = self._clock() + issued.expires_in - margin
            return self._token

    def authorization(self) -> dict[str, str]:
        """The Authorization header carrying the token."""
        return {"Authorization": "Bearer " + self.get()}

    def invalidate(self) -> None:
        """Forget the token (after a 401, say), so the next call fetches a new one."""
        with self._lock:
            self._token = None


def client_credentials(
    client: ServiceClient,
    *,
    client_id: str,
    client_secret: str,
    scope: str | None = None,
    path: str = "/token",
) -> Callable[[], IssuedToken]:
    """A fetch for `ServiceToken` that asks auth's token endpoint, authenticating with Basic."""

    def fetch() -> IssuedToken:
        data = {"grant_type": "client_credentials"}
        if scope:
            data["scope"] = scope
        # RFC 6749 §2.3.1: form-encode the id and secret before Basic encodes them.
        response = client.request(
            "POST",
            path,
            data=data,
            auth=(quote_plus(client_id), quote_plus(client_secret)),
            retry=True,  # asking for a token twice is harmless
        )
        if response.status_code != 200:
            raise ServiceUnavailable(
                f"{client.policy.name} refused a service token ({response.status_code})."
            )
        body = response.json()
        return IssuedToken(str(body["access_token"]), float(body["expires_in"]))

    return fetch
