"""Token endpoint and logout bodies (RFC 6749 parameter names)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from chassis.schemas import Model


def _encodable(value: str | None) -> str | None:
    # JSON may carry lone surrogates; they cannot be hashed or stored as UTF-8.
    if value is not None and any("\ud800" <= char <= "\udfff" for char in value):
        raise ValueError("lone surrogates are not allowed")
    return value


Param = Annotated[str | None, Field(max_length=4096), AfterValidator(_encodable)]


class TokenRequest(BaseModel):
    """`POST /token` parameters, form-encoded or JSON; unknown parameters are ignored.

    `authorization_code`: `code`, `redirect_uri`, `code_verifier` and `client_id` (a public
    client) or the client's secret. `refresh_token`: `refresh_token`, or the `bazaar_refresh`
    cookie. `client_credentials`: `client_id` and `client_secret` here or as HTTP Basic, and
    an optional `scope` narrowing the client's scopes. `password` (development only unless
    enabled, for first-party command-line use): `username` (the email) and `password`.
    """

    # RFC 6749 §3.2: the server MUST ignore parameters it does not recognise.
    model_config = ConfigDict(extra="ignore")

    grant_type: Annotated[
        str,
        AfterValidator(_encodable),
        Field(
            max_length=64,
            description="authorization_code, refresh_token, client_credentials (or password)",
            examples=["authorization_code"],
        ),
    ]
    username: Param = None
    password: Param = None
    refresh_token: Param = None
    client_id: Param = None
    client_secret: Param = None
    scope: Param = None
    code: Param = None
    redirect_uri: Param = None
    code_verifier: Param = None


class TokenRead(Model):
    """A successful token answer (RFC 6749 §5.1)."""

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a scheme name
    expires_in: int = Field(description="seconds until the access token expires")
    refresh_token: str | None = Field(
        default=None,
        description="absent for client_credentials, and for the storefront (only its cookie)",
    )
    id_token: str | None = Field(default=None, description="OpenID Connect, with scope openid")
    scope: str


class LogoutRequest(BaseModel):
    """The refresh token whose family ends (else the `bazaar_refresh` cookie's)."""

    model_config = ConfigDict(extra="ignore")

    refresh_token: Param = None
