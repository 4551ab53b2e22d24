"""Auth settings: `BAZAAR_AUTH_*`, falling back to `BAZAAR_*`."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from chassis import ServiceSettings
from chassis.settings import UnsafeConfiguration

# OWASP password storage cheat sheet, argon2id minimum: 19 MiB, 2 iterations, 1 lane.
MIN_ARGON2_MEMORY_KIB = 19 * 1024
MIN_ARGON2_TIME_COST = 2
_PROVIDER_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
# Names reserved for examples and placeholders (RFC 2606, RFC 6761): no shop lives there.
_PLACEHOLDER_HOST = re.compile(r"(^|\.)(example|invalid|example\.(com|net|org))$")


class ExternalProvider(BaseModel):
    """An external OpenID Connect provider people may sign in with."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    issuer: str = Field(pattern=r"^https?://", description="its issuer URL, as in its ID tokens")
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    display_name: str = Field(min_length=1, max_length=40, description="on the sign-in button")
    scope: str = "openid email profile"


class AuthSettings(ServiceSettings):
    """Settings of the auth service."""

    service_name = "auth"
    default_port = 8002

    users_url: str = "http://127.0.0.1:8003"
    users_timeout_seconds: float = 3.0

    access_token_ttl_seconds: int = 15 * 60
    # A rotated-in key is published this long before it signs: verifiers refetch the JWKS
    # for an unknown kid at most every 30 s.
    signing_key_lead_seconds: int = 60
    refresh_token_ttl_seconds: int = 30 * 24 * 3600  # absolute: a family never lives longer
    refresh_token_idle_seconds: int = 7 * 24 * 3600  # unused for this long, a token dies

    # Lowered only by tests, through these settings; production refuses less than OWASP's.
    argon2_memory_kib: int = MIN_ARGON2_MEMORY_KIB
    argon2_time_cost: int = MIN_ARGON2_TIME_COST
    argon2_parallelism: int = 1

    # The EdDSA line's key (access tokens) managed outside the database; PEM, Ed25519.
    signing_key: SecretStr | None = None
    signing_key_file: Path | None = None
    # The RS256 line's key (ID tokens) managed outside the database; PEM, RSA >= 2048 bits.
    rsa_signing_key: SecretStr | None = None
    rsa_signing_key_file: Path | None = None

    # After `throttle_after` consecutive failures: 1 s, 2 s, 4 s ... up to the cap.
    throttle_after: int = 5
    throttle_base_delay_seconds: float = 1.0
    throttle_max_delay_seconds: float = 15 * 60
    throttle_forget_after_seconds: int = 15 * 60  # failures older than this are forgotten

    # Where browsers reach the shop (the gateway): the issuer is `<public_origin>/api/auth`,
    # the storefront's redirect URI `<public_origin>/auth/callback`. Production must set it
    # (auth refuses to start without it, or with a placeholder host such as example.com).
    public_origin: str = Field(default="http://127.0.0.1:8000", pattern=r"^https?://[^/]+$")
    # More redirect URIs of the storefront (the Vite dev server's, say); matched exactly.
    storefront_redirect_uris: tuple[str, ...] = ()
    # RFC 6749 §4.1.2 recommends at most ten minutes; a code is redeemed within a second.
    authorization_code_ttl_seconds: int = Field(default=60, ge=1, le=60)
    # The password grant (RFC 9700 §2.4: must not be used): None means on in development
    # only, for first-party command-line use; the storefront uses the code flow.
    password_grant: bool | None = None
    # `{"name": {"issuer": ..., "client_id": ..., "client_secret": ..., "display_name": ...}}`
    oidc_providers: dict[str, ExternalProvider] = {}

    # Proxies in front of auth (the gateway) whose X-Forwarded-For is trusted for client IPs.
    proxy_hops: int = 1

    @model_validator(mode="after")
    def _refuse_weak_hashing_in_production(self) -> AuthSettings:
        if self.env == "production" and (
            self.argon2_memory_kib < MIN_ARGON2_MEMORY_KIB
            or self.argon2_time_cost < MIN_ARGON2_TIME_COST
            or self.argon2_parallelism != 1
        ):
            raise UnsafeConfiguration(
                "refusing to start auth in production: argon2id needs at least "
                f"m={MIN_ARGON2_MEMORY_KIB} KiB, t={MIN_ARGON2_TIME_COST}, p=1"
            )
        for name in self.oidc_providers:
            if not _PROVIDER_NAME.match(name):
                raise ValueError(f"provider name {name!r} must match {_PROVIDER_NAME.pattern}")
        if self.signing_key and self.signing_key_file:
            raise UnsafeConfiguration(
                "set BAZAAR_AUTH_SIGNING_KEY or BAZAAR_AUTH_SIGNING_KEY_FILE, not both"
            )
        if self.rsa_signing_key and self.rsa_signing_key_file:
            raise UnsafeConfiguration(
                "set BAZAAR_AUTH_RSA_SIGNING_KEY or BAZAAR_AUTH_RSA_SIGNING_KEY_FILE, not both"
            )
        return self

    def production_problems(self) -> list[str]:
        """Production needs the shop's public origin, and not a placeholder."""
        # A wrong issuer breaks every sign-in (redirects, ID tokens, discovery) without an
        # error of its own: refuse to start instead.
        if "public_origin" not in self.model_fields_set:
            return [
                "set BAZAAR_PUBLIC_ORIGIN (or BAZAAR_AUTH_PUBLIC_ORIGIN) to the shop's public "
                "origin, where browsers reach the gateway (https://shop.example.net, say)"
            ]
        if _PLACEHOLDER_HOST.search((urlsplit(self.public_origin).hostname or "").lower()):
            return [
                f"the public origin (BAZAAR_PUBLIC_ORIGIN or BAZAAR_AUTH_PUBLIC_ORIGIN) is "
                f"the placeholder {self.public_origin}: set it to the shop's public origin, "
                "where browsers reach the gateway"
            ]
        return []

    @property
    def issuer_url(self) -> str:
        """This authorization server's issuer (RFC 8414), reached through the gateway."""
        return f"{self.public_origin}/api/auth"

    @property
    def password_grant_enabled(self) -> bool:
        """Whether `grant_type=password` is served."""
        if self.password_grant is None:
            return self.env == "development"
        return self.password_grant

    @property
    def secure_cookies(self) -> bool:
        """Cookies carry `Secure` everywhere but on a developer's plain-HTTP machine."""
        return self.env not in ("development", "test")

    def signing_key_pems(self) -> dict[str, str | None]:
        """The externally managed key of each line (EdDSA, RS256), from variable or file."""
        return {
            "EdDSA": _secret_or_file(self.signing_key, self.signing_key_file),
            "RS256": _secret_or_file(self.rsa_signing_key, self.rsa_signing_key_file),
        }


def _secret_or_file(value: SecretStr | None, path: Path | None) -> str | None:
    if value is not None:
        return value.get_secret_value()
    if path is not None:
        return path.read_text()
    return None
