"""The users service as auth sees it: create a profile at registration, remove it again."""

from __future__ import annotations

import threading

import httpx

from auth.credentials.service import DuplicateEmail
from chassis.errors import ProblemError, ServiceUnavailable, ValidationFailed
from chassis.http import ClientPolicy, ServiceClient
from chassis.logging import get_logger
from chassis.service_tokens import ServiceToken

SCOPE = "users:write"
log = get_logger("auth.profiles")


class ProfilesUnavailable(ServiceUnavailable):
    """The users service did not take the profile; nothing was registered."""

    slug, title = "users-unavailable", "Registration unavailable"


class ProfileRefused(ValidationFailed):
    """The users service found the profile invalid (its rules are the final word)."""

    slug, title = "profile-refused", "Profile refused"


def _detail(response: httpx.Response) -> str | None:
    try:
        detail = response.json().get("detail")
    except ValueError:
        return None
    return str(detail) if detail else None


class Profiles:
    """Calls `POST /` and `DELETE /{id}` of the users service with auth's own service token."""

    def __init__(self, base_url: str, token: ServiceToken, *, timeout: float) -> None:
        self._token = token
        self._base_url = base_url
        self._policy = ClientPolicy(
            name="users",
            connect_timeout=min(1.0, timeout),
            read_timeout=timeout,
            retry_budget_seconds=timeout,
        )
        self._lock = threading.Lock()
        self._pooled: ServiceClient | None = None

    @property
    def _client(self) -> ServiceClient:
        # Built on first use: an httpx client loads the CA bundle (~0.1 s), which an app
        # that never registers anyone (or a test) need not pay for.
        with self._lock:
            if self._pooled is None:
                self._pooled = ServiceClient(self._base_url, self._policy)
            return self._pooled

    def create(self, *, user_id: str, email: str, display_name: str, role: str) -> None:
        """Create the profile; raise ProfilesUnavailable when users is down or refuses."""
        body = {"id": user_id, "email": email, "display_name": display_name, "role": role}
        try:
            # The users service answers a repeated POST for the same id with the same profile.
            response = self._client.request(
                "POST", "/", json=body, headers=self._token.authorization(), retry=True
            )
        except ProblemError as exc:
            raise ProfilesUnavailable("Registration is unavailable right now; try again.") from exc
        if response.status_code in (200, 201):
            return
        if response.status_code == 409:
            raise DuplicateEmail("An account with this email already exists.")
        if response.status_code == 422:
            raise ProfileRefused(_detail(response) or "The profile was refused.")
        if response.status_code == 401:
            self._token.invalidate()  # perhaps signed by a key users has not fetched yet
        log.error("users refused a profile", status=response.status_code, user_id=user_id)
        raise ProfilesUnavailable("Registration is unavailable right now; try again.")

    def delete(self, user_id: str) -> bool:
        """Remove a profile (compensation); False, logged, when it could not be removed."""
        try:
            response = self._client.request(
                "DELETE", f"/{user_id}", headers=self._token.authorization()
            )
        except ProblemError:
            response = None
        if response is None or response.status_code not in (200, 204, 404):
            log.error(
                "orphan profile: registration failed and the profile could not be removed",
                user_id=user_id,
                status=None if response is None else response.status_code,
            )
            return False
        return True

    def close(self) -> None:
        """Close pooled connections."""
        with self._lock:
            if self._pooled is not None:
                self._pooled.close()
                self._pooled = None
