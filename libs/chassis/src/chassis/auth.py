"""Access-token verification (RFC 8725): asymmetric algorithms only, a JWKS or a public key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from jwt import PyJWKClient

from chassis.errors import ServiceUnavailable, Unauthorized
from chassis.metrics import DEGRADED
from chassis.revocation import RevocationList, RevocationUnavailable, revocation_list

ALLOWED_ALGORITHMS = ("EdDSA", "ES256")
ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - a media type, not a secret


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's subject, roles and scopes."""

    subject: str
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    claims: Mapping[str, Any] = field(default_factory=dict)

    def has_role(self, role: str) -> bool:
        """True when the token carries `role`."""
        return role in self.roles

    def has_scope(self, scope: str) -> bool:
        """True when the token carries `scope`."""
        return scope in self.scopes


class TokenVerifier:
    """Verifies access tokens against a JWKS URL (cached, refreshed on unknown kid) or a key."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        public_key: str | None = None,
        jwks_url: str | None = None,
        leeway_seconds: int = 30,
        jwks_timeout: float = 2.0,
        revocations: RevocationList | None = None,
    ) -> None:
        if not (public_key or jwks_url):
            raise ValueError("a public key or a JWKS URL is required")
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway_seconds
        self._public_key = public_key
        self._revocations = revocations
        self._jwks = (
            PyJWKClient(jwks_url, cache_keys=True, lifespan=300, timeout=jwks_timeout)
            if jwks_url
            else None
        )

    def _key_for(self, token: str) -> Any:
        if self._jwks is not None:
            try:
                return self._jwks.get_signing_key_from_jwt(token).key
            except jwt.PyJWKClientError as exc:
                raise Unauthorized("The token's signing key is unknown.") from exc
        return self._public_key

    def verify(self, token: str) -> Principal:
        """Decode and check a bearer token; raise Unauthorized on any defect."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized("The token is malformed.") from exc
        if header.get("alg") not in ALLOWED_ALGORITHMS:
            raise Unauthorized("The token's algorithm is not accepted.")
        if header.get("typ") != ACCESS_TOKEN_TYPE:
            raise Unauthorized("The token is not an access token.")
        try:
            claims = jwt.decode(
                token,
                key=self._key_for(token),
                algorithms=list(ALLOWED_ALGORITHMS),
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("The token has expired.") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("The token is invalid.") from exc
        self._check_not_revoked(claims)
        roles = claims.get("roles") or []
        scope = claims.get("scope") or ""
        if not isinstance(roles, list) or not isinstance(scope, str):
            raise Unauthorized("The token's claims are malformed.")
        return Principal(
            subject=str(claims["sub"]),
            roles=frozenset(str(r) for r in roles),
            scopes=frozenset(scope.split()),
            claims=claims,
        )

    def _check_not_revoked(self, claims: Mapping[str, Any]) -> None:
        if self._revocations is None or not claims.get("jti"):
            return
        try:
            revoked = self._revocations.is_revoked(str(claims["jti"]))
        except RevocationUnavailable as exc:
            # Fail closed: a logged-out token must not work because Redis is down.
            DEGRADED.labels("auth", "revocation-list").inc()
            raise ServiceUnavailable("Tokens cannot be checked right now.") from exc
        if revoked:
            raise Unauthorized("The token has been revoked.")


def bearer_token(authorization: str | None) -> str | None:
    """The token in an `Authorization: Bearer` header, or None when absent."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Use the Bearer authorization scheme.")
    return token.strip()


def verifier_from_settings(
    settings: Any, *, revocations: RevocationList | None = None
) -> TokenVerifier | None:
    """A verifier when the settings name a key source; `revocations` overrides the store."""
    if not (settings.jwt_public_key or settings.jwks_url):
        return None
    return TokenVerifier(
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        public_key=settings.jwt_public_key,
        jwks_url=settings.jwks_url,
        revocations=revocations or revocation_list(settings.redis_url, settings.data_dir),
    )
