"""OAuth 2 token-endpoint errors (RFC 6749 §5.2), carried in problem+json as `error`."""

from __future__ import annotations

from typing import Any, ClassVar

from chassis.errors import ProblemError


class OAuthError(ProblemError):
    """A token-endpoint error: the problem document also has `error` and `error_description`."""

    error: ClassVar[str] = "invalid_request"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        extra: dict[str, Any] = {"error": self.error, "error_description": detail}
        super().__init__(detail, extra=extra, headers=headers)


class InvalidRequest(OAuthError):
    """A parameter is missing, repeated or malformed."""

    status, slug, title, error = 400, "invalid-request", "Invalid request", "invalid_request"


class InvalidClient(OAuthError):
    """Client authentication failed (unknown client, wrong secret, no credentials)."""

    status, slug, title, error = 401, "invalid-client", "Invalid client", "invalid_client"

    def __init__(self, detail: str = "Client authentication failed.") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Basic realm="bazaar"'})


class InvalidGrant(OAuthError):
    """The credentials or refresh token are wrong, expired, used or revoked."""

    status, slug, title, error = 400, "invalid-grant", "Invalid grant", "invalid_grant"


class UnsupportedGrantType(OAuthError):
    """The grant type is not one this server knows."""

    status, slug, title = 400, "unsupported-grant-type", "Unsupported grant type"
    error = "unsupported_grant_type"


class InvalidScope(OAuthError):
    """The requested scope is more than the client was granted."""

    status, slug, title, error = 400, "invalid-scope", "Invalid scope", "invalid_scope"
