"""External OpenID Connect providers: discovery, the code flow as their client, ID tokens.

Bazaar is the provider's confidential client, with PKCE (S256), `state` and `nonce`. Every
ID token is verified against the provider's JWKS: signature (asymmetric algorithms only),
issuer, audience (and `azp` when there are several), expiry, issued-at and the nonce of
this very sign-in. Accounts are matched by the provider's subject, else linked by an email
the provider has verified, else created.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from auth.authorize.service import s256
from auth.credentials.passwords import Passwords
from auth.credentials.service import get_by_email, normalize_email
from auth.models import Credential, ExternalIdentity, ExternalLogin
from auth.profiles import Profiles
from auth.registration import register
from auth.settings import AuthSettings, ExternalProvider
from auth.tokens.service import token_hash
from chassis.db import utcnow
from chassis.errors import ProblemError
from chassis.logging import get_logger

log = get_logger("auth.external")
# What an ID token may be signed with: asymmetric only (RFC 8725 §3.1), never `none`/HS*.
ID_TOKEN_ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")
LOGIN_TTL = dt.timedelta(minutes=10)
METADATA_TTL_SECONDS = 3600.0


class ExternalSignInFailed(ProblemError):
    """The provider's answer could not be trusted; nobody is signed in."""

    status, slug, title = 401, "external-sign-in-failed", "Sign-in with the provider failed"


class ProviderUnavailable(ProblemError):
    """The provider could not be reached or answered nonsense."""

    status, slug, title = 502, "provider-unavailable", "Provider unavailable"


class UnknownExternalLogin(ProblemError):
    """The callback's `state` belongs to no pending sign-in (expired, used or forged)."""

    status, slug, title = 400, "unknown-external-login", "Unknown or expired sign-in"


@dataclass(frozen=True)
class ProviderMetadata:
    """The parts of a provider's discovery document Bazaar uses."""

    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    algorithms: tuple[str, ...]


@dataclass(frozen=True)
class ExternalUser:
    """Who the provider vouches for, from a verified ID token."""

    subject: str
    email: str
    name: str


class Providers:
    """The configured providers, their discovery documents and JWKS clients (cached)."""

    def __init__(self, settings: AuthSettings, *, timeout: float = 5.0) -> None:
        self.configured = settings.oidc_providers
        self._callback_base = f"{settings.issuer_url}/external"
        self._timeout = timeout
        self._lock = threading.Lock()
        self._metadata: dict[str, tuple[float, ProviderMetadata]] = {}
        self._jwks: dict[str, jwt.PyJWKClient] = {}

    def callback_uri(self, name: str) -> str:
        """The redirect URI Bazaar registers at provider `name`."""
        return f"{self._callback_base}/{name}/callback"

    def is_cached(self, name: str) -> bool:
        """Whether provider `name`'s discovery document is at hand (no call needed)."""
        with self._lock:
            return name in self._metadata

    def metadata(self, name: str) -> ProviderMetadata:
        """Provider `name`'s discovery document (fetched at most hourly); 502 when unusable."""
        provider = self.configured[name]
        with self._lock:
            cached = self._metadata.get(name)
        if cached is not None and time.monotonic() - cached[0] < METADATA_TTL_SECONDS:
            return cached[1]
        url = provider.issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            document = httpx.get(url, timeout=self._timeout).raise_for_status().json()
            if document.get("issuer") != provider.issuer:
                raise ValueError("the document names another issuer")
            algorithms = tuple(
                alg
                for alg in document.get("id_token_signing_alg_values_supported", ["RS256"])
                if alg in ID_TOKEN_ALGORITHMS
            )
            found = ProviderMetadata(
                authorization_endpoint=str(document["authorization_endpoint"]),
                token_endpoint=str(document["token_endpoint"]),
                jwks_uri=str(document["jwks_uri"]),
                algorithms=algorithms,
            )
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            log.error("provider discovery failed", provider=name, error=str(exc))
            raise ProviderUnavailable(f"{provider.display_name} cannot be reached.") from exc
        with self._lock:
            self._metadata[name] = (time.monotonic(), found)
        return found

    def _jwks_client(self, name: str, metadata: ProviderMetadata) -> jwt.PyJWKClient:
        with self._lock:
            client = self._jwks.get(name)
            if client is None or client.uri != metadata.jwks_uri:
                client = jwt.PyJWKClient(metadata.jwks_uri, lifespan=300, timeout=self._timeout)
                self._jwks[name] = client
            return client

    def exchange(self, name: str, *, code: str, code_verifier: str) -> str:
        """Redeem the provider's code at its token endpoint; its ID token (unverified)."""
        provider, metadata = self.configured[name], self.metadata(name)
        try:
            response = httpx.post(
                metadata.token_endpoint,
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": self.callback_uri(name),
                    "code_verifier": code_verifier,
                },
                auth=(provider.client_id, provider.client_secret.get_secret_value()),
                timeout=self._timeout,
            )
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"{provider.display_name} cannot be reached.") from exc
        if response.status_code != 200:
            log.warning("provider refused the code", provider=name, status=response.status_code)
            raise ExternalSignInFailed(f"{provider.display_name} refused the sign-in.")
        try:
            id_token = response.json()["id_token"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ExternalSignInFailed(f"{provider.display_name} sent no ID token.") from exc
        return str(id_token)

    def verify(self, name: str, id_token: str, *, nonce: str) -> ExternalUser:
        """The user an ID token vouches for, or 401 when any check fails."""
        provider, metadata = self.configured[name], self.metadata(name)
        try:
            key = self._jwks_client(name, metadata).get_signing_key_from_jwt(id_token)
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key.key,
                algorithms=list(metadata.algorithms),
                audience=provider.client_id,
                issuer=provider.issuer,
                leeway=30,
                options={"require": ["iss", "aud", "exp", "iat", "sub", "nonce"]},
            )
        except (jwt.PyJWTError, jwt.PyJWKClientError) as exc:
            log.warning("external ID token refused", provider=name, error=str(exc))
            raise ExternalSignInFailed("The provider's ID token did not verify.") from exc
        return _external_user(provider, claims, nonce)


def _external_user(provider: ExternalProvider, claims: dict[str, Any], nonce: str) -> ExternalUser:
    audience = claims["aud"]
    if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != provider.client_id:
        raise ExternalSignInFailed("The ID token was issued to another party.")
    if not secrets.compare_digest(str(claims["nonce"]), nonce):
        # An ID token of another (or an earlier) sign-in: a replay.
        raise ExternalSignInFailed("The ID token belongs to another sign-in.")
    email = claims.get("email")
    if not isinstance(email, str) or not email:
        raise ExternalSignInFailed(f"{provider.display_name} did not share an email address.")
    if claims.get("email_verified") is not True:
        raise ExternalSignInFailed(
            f"{provider.display_name} has not verified {email}; verify it there first."
        )
    name = claims.get("name")
    display = name if isinstance(name, str) and name.strip() else email.split("@")[0]
    return ExternalUser(str(claims["sub"]), normalize_email(email), display.strip()[:80])


def start_login(
    session: Session,
    providers: Providers,
    name: str,
    metadata: ProviderMetadata,
    *,
    request_blob: str,
) -> str:
    """Record a pending sign-in; the provider's authorization URL to send the browser to."""
    provider = providers.configured[name]
    now = utcnow()
    # Abandoned sign-ins (the shopper never came back) go with the next one.
    session.execute(delete(ExternalLogin).where(ExternalLogin.created_at < now - LOGIN_TTL))
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    session.add(
        ExternalLogin(
            state_hash=token_hash(state),
            provider=name,
            nonce=nonce,
            code_verifier=verifier,
            request=request_blob,
            created_at=now,
        )
    )
    session.flush()
    query = urlencode(
        {
            "response_type": "code",
            "client_id": provider.client_id,
            "redirect_uri": providers.callback_uri(name),
            "scope": provider.scope,
            "state": state,
            "nonce": nonce,
            "code_challenge": s256(verifier),
            "code_challenge_method": "S256",
        }
    )
    endpoint = metadata.authorization_endpoint
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"


def claim_login(session: Session, name: str, state: str) -> ExternalLogin:
    """The pending sign-in of `state`, marked used (once only); 400 when none is pending."""
    now = utcnow()
    row = session.get(ExternalLogin, token_hash(state))
    if row is None or row.provider != name or row.created_at < now - LOGIN_TTL:
        raise UnknownExternalLogin("This sign-in expired or was never started; start again.")
    claimed = session.execute(
        update(ExternalLogin)
        .where(ExternalLogin.state_hash == row.state_hash, ExternalLogin.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise UnknownExternalLogin("This sign-in was completed already; start again.")
    return row


def account_for(
    *,
    session: Session,
    passwords: Passwords,
    profiles: Profiles,
    provider: str,
    user: ExternalUser,
) -> Credential:
    """The linked account, else the account of the verified email (linked now), else a new one."""
    linked = session.scalar(
        select(ExternalIdentity).where(
            ExternalIdentity.provider == provider, ExternalIdentity.subject == user.subject
        )
    )
    if linked is not None:
        credential = session.get(Credential, linked.user_id)
        if credential is not None:
            return credential
    credential = get_by_email(session=session, email=user.email)
    if credential is None:
        credential = register(
            session=session,
            passwords=passwords,
            profiles=profiles,
            email=user.email,
            password=None,
            display_name=user.name,
        )
    session.add(ExternalIdentity(provider=provider, subject=user.subject, user_id=credential.id))
    session.flush()
    log.info("external identity linked", provider=provider, user_id=credential.id)
    return credential
