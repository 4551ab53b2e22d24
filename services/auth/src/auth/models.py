"""The auth service's tables."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from chassis.db import TimestampMixin, UTCDateTime, service_metadata, utcnow


class Base(DeclarativeBase):
    """The auth service's own metadata: its tables live in its own database."""

    metadata = service_metadata()


class Credential(TimestampMixin, Base):
    """How a user proves who they are; the id is the user id everywhere."""

    __tablename__ = "credentials"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    # None: the account signs in only through an external provider.
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    roles: Mapped[list[str]] = mapped_column(JSON)


class RefreshFamily(Base):
    """The refresh tokens descended from one login; revoked as a whole."""

    __tablename__ = "refresh_families"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        ForeignKey("credentials.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RefreshToken(Base):
    """One refresh token, known only by its SHA-256; usable once."""

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[str] = mapped_column(
        ForeignKey("refresh_families.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SigningKey(Base):
    """A key pair of one line (Ed25519 or RSA); the private half is encrypted with the secret.

    Keys supplied from outside (`BAZAAR_AUTH_SIGNING_KEY`, `BAZAAR_AUTH_RSA_SIGNING_KEY`) have
    no private half here.
    """

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The line: `EdDSA` (access tokens, ID tokens on request) or `RS256` (ID tokens).
    alg: Mapped[str] = mapped_column(String(16), default="EdDSA", server_default="EdDSA")
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    private_key: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class OAuthClient(Base):
    """A service (`client_credentials`) or a third-party application (the code flow)."""

    __tablename__ = "oauth_clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(255))
    scopes: Mapped[str] = mapped_column(String(500))  # space-separated, as in tokens
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Registered for the code flow; matched character for character. Empty: no code flow.
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    # OpenID Connect Dynamic Client Registration's name; RS256 unless registered otherwise.
    id_token_signed_response_alg: Mapped[str] = mapped_column(
        String(16), default="RS256", server_default="RS256"
    )


class AuthorizationCode(Base):
    """A code of the code flow, known only by its SHA-256; usable once, briefly."""

    __tablename__ = "authorization_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(ForeignKey("credentials.id", ondelete="CASCADE"))
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    code_challenge: Mapped[str] = mapped_column(String(128))
    scope: Mapped[str] = mapped_column(String(500))
    nonce: Mapped[str | None] = mapped_column(String(500), nullable=True)
    auth_time: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The family the code was redeemed for: revoked if the code comes back (RFC 6749 §4.1.2).
    family_id: Mapped[str | None] = mapped_column(String(36), nullable=True)


class ExternalLogin(Base):
    """A sign-in started at an external provider: its state, nonce and PKCE verifier."""

    __tablename__ = "external_logins"

    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[str] = mapped_column(String(100))
    code_verifier: Mapped[str] = mapped_column(String(128))
    request: Mapped[str] = mapped_column(Text)  # the signed authorization request to resume
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ExternalIdentity(Base):
    """An account at an external provider (issuer and subject) linked to a Bazaar account."""

    __tablename__ = "external_identities"
    __table_args__ = (UniqueConstraint("provider", "subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[str] = mapped_column(
        ForeignKey("credentials.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ThrottleCounter(Base):
    """Consecutive failures of one account or client IP (when there is no Redis)."""

    __tablename__ = "throttle_counters"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failure_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    blocked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RevokedToken(Base):
    """A logged-out access token, kept until it would have expired: the durable revocation list.

    Redis holds the same list for every verifier to read; this table is what refills it.
    """

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[int] = mapped_column(Integer, index=True)  # Unix seconds, the token's exp
