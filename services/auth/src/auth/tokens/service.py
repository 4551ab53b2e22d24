"""Tokens: signed access tokens, refresh-token families, the three grants and logout.

Plain functions over a session (they flush, the request commits), plus `TokenIssuer`,
which signs with the key ring's active key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from auth.clients.service import authenticate_client
from auth.credentials.passwords import Passwords
from auth.keys.service import (
    ACCESS_TOKEN_ALGORITHM,
    DEFAULT_ID_TOKEN_ALGORITHM,
    KeyRing,
    public_pem,
)
from auth.models import Credential, RefreshFamily, RefreshToken
from auth.oauth_errors import InvalidGrant, InvalidScope
from auth.revocations import DurableRevocations
from auth.settings import AuthSettings
from chassis.auth import ACCESS_TOKEN_TYPE, Principal, TokenVerifier
from chassis.db import utcnow
from chassis.errors import ServiceUnavailable, Unauthorized
from chassis.logging import get_logger
from chassis.revocation import RevocationList, RevocationUnavailable
from chassis.service_tokens import IssuedToken

log = get_logger("auth.tokens")
BAD_REFRESH_TOKEN = "The refresh token is invalid, expired or revoked."  # noqa: S105


class RefreshTokenReused(InvalidGrant):
    """A used refresh token came back: its family is revoked, and that must be committed."""


@dataclass(frozen=True)
class Grant:
    """What the token endpoint answers."""

    access_token: str
    expires_in: int
    scope: str
    refresh_token: str | None = None
    refresh_expires_at: dt.datetime | None = None
    id_token: str | None = None
    family_id: str | None = None


def token_hash(token: str) -> str:
    """How a refresh token is stored: SHA-256, hex (the token itself has 256 random bits)."""
    return hashlib.sha256(token.encode()).hexdigest()


class TokenIssuer:
    """Signs access tokens and starts or continues refresh-token families."""

    def __init__(self, *, keys: KeyRing, settings: AuthSettings) -> None:
        self.keys = keys
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        self.access_ttl = settings.access_token_ttl_seconds
        self.refresh_ttl = dt.timedelta(seconds=settings.refresh_token_ttl_seconds)
        self.refresh_idle = dt.timedelta(seconds=settings.refresh_token_idle_seconds)

    def access_token(
        self, session: Session, *, subject: str, roles: Sequence[str], scope: str
    ) -> tuple[str, dict[str, Any]]:
        """A signed access token and its claims."""
        key = self.keys.signing_key(session, ACCESS_TOKEN_ALGORITHM)
        now = int(dt.datetime.now(dt.UTC).timestamp())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "iat": now,
            "exp": now + self.access_ttl,
            "jti": uuid.uuid4().hex,
            "roles": list(roles),
            "scope": scope,
        }
        headers = {"kid": key.kid, "typ": ACCESS_TOKEN_TYPE}
        return jwt.encode(claims, key.private_key, algorithm=key.alg, headers=headers), claims

    def id_token(
        self,
        session: Session,
        *,
        issuer: str,
        credential: Credential,
        client_id: str,
        nonce: str | None,
        auth_time: dt.datetime,
        alg: str = DEFAULT_ID_TOKEN_ALGORITHM,
    ) -> str:
        """An OpenID Connect ID token for `client_id` (OIDC Core §2), signed by `alg`'s line."""
        key = self.keys.signing_key(session, alg)
        now = int(dt.datetime.now(dt.UTC).timestamp())
        claims: dict[str, Any] = {
            "iss": issuer,
            "aud": client_id,
            "sub": credential.id,
            "iat": now,
            "exp": now + self.access_ttl,
            "auth_time": int(auth_time.timestamp()),
            "email": credential.email,
            "email_verified": False,  # Bazaar does not confirm addresses (yet)
        }
        if nonce is not None:
            claims["nonce"] = nonce
        headers = {"kid": key.kid, "typ": "JWT"}
        return jwt.encode(claims, key.private_key, algorithm=key.alg, headers=headers)

    def user_grant(
        self, session: Session, *, credential: Credential, family: RefreshFamily, scope: str = ""
    ) -> Grant:
        """An access token and the next refresh token of `family` for a user."""
        token, _ = self.access_token(
            session, subject=credential.id, roles=credential.roles, scope=scope
        )
        refresh, expires_at = self._next_refresh_token(session, family)
        return Grant(token, self.access_ttl, scope, refresh, expires_at, family_id=family.id)

    def start_family(self, session: Session, *, user_id: str) -> RefreshFamily:
        """A new family (one per login), expiring after the absolute lifetime."""
        now = utcnow()
        # Each login leaves a family; the user's long-dead ones go on the next login.
        session.execute(
            delete(RefreshFamily).where(
                RefreshFamily.user_id == user_id, RefreshFamily.expires_at < now
            )
        )
        family = RefreshFamily(
            id=str(uuid.uuid4()), user_id=user_id, created_at=now, expires_at=now + self.refresh_ttl
        )
        session.add(family)
        session.flush()
        return family

    def _next_refresh_token(
        self, session: Session, family: RefreshFamily
    ) -> tuple[str, dt.datetime]:
        now = utcnow()
        token = secrets.token_urlsafe(32)
        expires_at = min(now + self.refresh_idle, family.expires_at)
        session.add(
            RefreshToken(
                token_hash=token_hash(token),
                family_id=family.id,
                created_at=now,
                expires_at=expires_at,
            )
        )
        session.flush()
        return token, expires_at

    def service_token(self, session: Session, *, client_id: str, scopes: Sequence[str]) -> Grant:
        """A token for a service (`sub` = `client:<id>`): no roles, no refresh token."""
        scope = " ".join(scopes)
        token, _ = self.access_token(session, subject=f"client:{client_id}", roles=(), scope=scope)
        return Grant(token, self.access_ttl, scope)

    def own_service_token(self, session: Session, *, scopes: Sequence[str]) -> IssuedToken:
        """The token auth presents to other services (`client:auth`)."""
        grant = self.service_token(session, client_id="auth", scopes=scopes)
        return IssuedToken(grant.access_token, grant.expires_in)


def password_grant(*, session: Session, issuer: TokenIssuer, credential: Credential) -> Grant:
    """Tokens for an account signed in with its password (auth.signin.sign_in)."""
    family = issuer.start_family(session, user_id=credential.id)
    return issuer.user_grant(session, credential=credential, family=family)


def refresh_grant(*, session: Session, issuer: TokenIssuer, refresh_token: str) -> Grant:
    """Rotate a refresh token: the presented one dies; a reused one kills its family."""
    now = utcnow()
    row = session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == token_hash(refresh_token))
    )
    family = session.get(RefreshFamily, row.family_id) if row is not None else None
    if row is None or family is None or family.revoked_at is not None or family.expires_at <= now:
        raise InvalidGrant(BAD_REFRESH_TOKEN)
    if row.used_at is not None:
        raise _revoke_reused(session, family, now)
    if row.expires_at <= now:
        raise InvalidGrant(BAD_REFRESH_TOKEN)
    # Conditional, so of two concurrent uses of one token only one wins.
    claimed = session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == row.id, RefreshToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise _revoke_reused(session, family, now)
    credential = session.get(Credential, family.user_id)
    if credential is None:
        raise InvalidGrant(BAD_REFRESH_TOKEN)
    return issuer.user_grant(session, credential=credential, family=family)


def _revoke_reused(session: Session, family: RefreshFamily, now: dt.datetime) -> RefreshTokenReused:
    # Reuse means two parties hold the family (one of them a thief): end it for both.
    log.warning("refresh token reused; family revoked", family_id=family.id, user_id=family.user_id)
    family.revoked_at = now
    session.flush()
    return RefreshTokenReused(BAD_REFRESH_TOKEN)


def client_credentials_grant(
    *,
    session: Session,
    issuer: TokenIssuer,
    passwords: Passwords,
    client_id: str,
    client_secret: str,
    scope: str | None,
) -> Grant:
    """A service token with the client's scopes, or the subset it asks for."""
    client = authenticate_client(
        session=session, passwords=passwords, client_id=client_id, client_secret=client_secret
    )
    granted = client.scopes.split()
    requested = scope.split() if scope else granted
    if not set(requested) <= set(granted):
        raise InvalidScope(
            "The client may not ask for " + " ".join(sorted(set(requested) - set(granted))) + "."
        )
    return issuer.service_token(session, client_id=client.client_id, scopes=requested)


class OwnTokenVerifier:
    """Checks tokens auth issued with the chassis TokenVerifier and the signing key's own row.

    No HTTP call to auth's own JWKS; a key counts while it is published.
    """

    def __init__(self, *, keys: KeyRing, settings: AuthSettings, revocations: RevocationList):
        self._keys = keys
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._revocations = revocations

    def verify(self, session: Session, token: str) -> Principal:
        """The token's principal; 401 when it is malformed, unknown, expired or revoked."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as exc:
            raise Unauthorized("The token is malformed.") from exc
        # Only the access-token line: an ID token (RS256) is no bearer token.
        jwk = (
            self._keys.published_key(session, kid, ACCESS_TOKEN_ALGORITHM)
            if isinstance(kid, str)
            else None
        )
        if jwk is None:
            raise Unauthorized("The token's signing key is unknown.")
        verifier = TokenVerifier(
            issuer=self._issuer,
            audience=self._audience,
            public_key=public_pem(jwk),
            revocations=self._revocations,
        )
        return verifier.verify(token)


def logout(
    *,
    session: Session,
    revocations: DurableRevocations,
    principal: Principal,
    refresh_token: str | None,
) -> None:
    """End the caller's refresh family (when the token is theirs) and revoke the access token.

    Commits: the durable row must exist before the fast path has the revocation (a Redis
    refilled in between would otherwise miss it), and no remote call runs inside the write
    transaction. A retry after a 503 finds the token still valid in Redis and publishes it.
    """
    if refresh_token:
        family = session.scalar(
            select(RefreshFamily)
            .join(RefreshToken, RefreshToken.family_id == RefreshFamily.id)
            .where(RefreshToken.token_hash == token_hash(refresh_token))
        )
        if family is not None and family.user_id == principal.subject and family.revoked_at is None:
            family.revoked_at = utcnow()
            session.flush()
    jti, exp = principal.claims.get("jti"), principal.claims.get("exp")
    if jti and isinstance(exp, int):
        revocations.record(session, str(jti), exp)
    session.commit()
    if jti and isinstance(exp, int):
        try:
            revocations.revoke(str(jti), exp)
        except RevocationUnavailable as exc:
            raise ServiceUnavailable("Logout is unavailable right now; try again.") from exc
