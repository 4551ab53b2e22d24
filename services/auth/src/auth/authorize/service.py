"""The code flow: clients and their redirect URIs, the authorization request, codes.

Plain functions over a session (they flush, the request commits). A code is stored as
its SHA-256, lives at most 60 s, is redeemed once, by the client it was issued to, with
the redirect URI it was issued for and the PKCE verifier of its S256 challenge.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from auth.clients.service import authenticate_client
from auth.credentials.passwords import Passwords
from auth.keys.service import DEFAULT_ID_TOKEN_ALGORITHM
from auth.models import AuthorizationCode, Credential, OAuthClient, RefreshFamily
from auth.oauth_errors import InvalidClient, InvalidGrant, InvalidRequest
from auth.settings import AuthSettings
from auth.tokens.service import Grant, TokenIssuer, token_hash
from chassis.db import utcnow
from chassis.errors import ProblemError
from chassis.logging import get_logger

log = get_logger("auth.authorize")

STOREFRONT = "storefront"
# OpenID Connect scopes; a code-flow token carries what was asked for among them.
SCOPES = frozenset({"openid", "email", "profile"})
# RFC 7636 §4.1: 43-128 characters of [A-Z a-z 0-9 - . _ ~]; an S256 challenge is 43.
VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
CHALLENGE = re.compile(r"^[A-Za-z0-9\-_]{43}$")
MAX_PARAM = 500
BAD_CODE = "The authorization code is invalid, expired or already used."


@dataclass(frozen=True)
class Client:
    """A client of the code flow."""

    client_id: str
    name: str
    redirect_uris: tuple[str, ...]
    public: bool  # no secret: its PKCE verifier is all it proves
    first_party: bool  # Bazaar's own: no consent step
    id_token_alg: str = DEFAULT_ID_TOKEN_ALGORITHM  # its id_token_signed_response_alg


def storefront_client(settings: AuthSettings) -> Client:
    """The storefront: a public, first-party client at the gateway's origin."""
    uris = (f"{settings.public_origin}/auth/callback", *settings.storefront_redirect_uris)
    return Client(STOREFRONT, "Bazaar", uris, public=True, first_party=True)


def find_client(session: Session, settings: AuthSettings, client_id: str) -> Client | None:
    """The storefront, or a stored client registered for the code flow."""
    if client_id == STOREFRONT:
        return storefront_client(settings)
    stored = session.get(OAuthClient, client_id) if len(client_id) <= 64 else None
    if stored is None or not stored.redirect_uris:
        return None
    return Client(
        stored.client_id,
        stored.client_id,
        tuple(stored.redirect_uris),
        public=False,
        first_party=False,
        id_token_alg=stored.id_token_signed_response_alg,
    )


class UnknownClient(ProblemError):
    """The client or its redirect URI is not registered: nothing may be redirected to it."""

    status, slug, title = 400, "invalid-authorization-client", "Unknown client or redirect URI"


class RedirectedError(Exception):
    """An error the client learns about at its redirect URI (RFC 6749 §4.1.2.1)."""

    def __init__(self, redirect_uri: str, error: str, description: str, state: str | None):
        super().__init__(description)
        self.location = redirect_to(
            redirect_uri,
            {"error": error, "error_description": description, "state": state},
        )


def redirect_to(uri: str, params: Mapping[str, str | None]) -> str:
    """`uri` with `params` added to its query (the registered URI may have one)."""
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{uri}{'&' if '?' in uri else '?'}{query}"


@dataclass(frozen=True)
class AuthorizationRequest:
    """A checked authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, OIDC Core §3.1.2.1)."""

    client_id: str
    redirect_uri: str
    scope: str
    state: str
    code_challenge: str
    nonce: str | None = None
    prompt: str | None = None  # `create` (OIDC Prompt Create) opens the registration form

    def as_dict(self) -> dict[str, Any]:
        """The request as a plain dict (to sign into a form field)."""
        return asdict(self)


def parse_request(
    session: Session, settings: AuthSettings, params: Mapping[str, str]
) -> tuple[AuthorizationRequest, Client]:
    """Check an authorization request: UnknownClient, or RedirectedError with its error."""
    client_id, redirect_uri = params.get("client_id", ""), params.get("redirect_uri", "")
    client = find_client(session, settings, client_id) if client_id else None
    # Exact comparison: no prefix, case or normalisation tricks (RFC 9700 §4.1.3).
    if client is None or redirect_uri not in client.redirect_uris:
        raise UnknownClient("The client is unknown, or this redirect_uri is not one it registered.")
    state = params.get("state")

    def refuse(error: str, description: str) -> RedirectedError:
        return RedirectedError(redirect_uri, error, description, state)

    if any(len(value) > MAX_PARAM for value in params.values()):
        raise refuse("invalid_request", "A parameter is too long.")
    if params.get("response_type") != "code":
        raise refuse("unsupported_response_type", "response_type must be code.")
    if not state:
        # The client's CSRF defence; Bazaar refuses to run a flow without one.
        raise refuse("invalid_request", "state is required.")
    if params.get("code_challenge_method") != "S256":
        raise refuse("invalid_request", "PKCE is required, with code_challenge_method=S256.")
    challenge = params.get("code_challenge", "")
    if not CHALLENGE.match(challenge):
        raise refuse("invalid_request", "code_challenge must be a base64url SHA-256.")
    scopes = params.get("scope", "").split()
    if not set(scopes) <= SCOPES:
        raise refuse("invalid_scope", "Only openid, email and profile may be asked for.")
    prompt = params.get("prompt")
    if prompt not in (None, "", "login", "create", "consent"):
        raise refuse("invalid_request", "prompt must be login, create or consent.")
    request = AuthorizationRequest(
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        scope=" ".join(dict.fromkeys(scopes)),
        state=state,
        code_challenge=challenge,
        nonce=params.get("nonce") or None,
        prompt=prompt or None,
    )
    return request, client


def issue_code(
    session: Session,
    settings: AuthSettings,
    request: AuthorizationRequest,
    *,
    user_id: str,
    auth_time: dt.datetime,
) -> str:
    """Store a new code for the signed-in user; where the browser goes next."""
    now = utcnow()
    session.execute(delete(AuthorizationCode).where(AuthorizationCode.expires_at < now))
    code = secrets.token_urlsafe(32)
    session.add(
        AuthorizationCode(
            code_hash=token_hash(code),
            client_id=request.client_id,
            user_id=user_id,
            redirect_uri=request.redirect_uri,
            code_challenge=request.code_challenge,
            scope=request.scope,
            nonce=request.nonce,
            auth_time=auth_time,
            expires_at=now + dt.timedelta(seconds=settings.authorization_code_ttl_seconds),
        )
    )
    session.flush()
    # RFC 9207: `iss` tells the client which server answered (mix-up attacks).
    return redirect_to(
        request.redirect_uri, {"code": code, "state": request.state, "iss": settings.issuer_url}
    )


def s256(verifier: str) -> str:
    """The S256 challenge of a verifier (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class CodeSpent(InvalidGrant):
    """The code is used up (or its reuse revoked tokens): committed although refused."""


def code_grant(
    *,
    session: Session,
    issuer: TokenIssuer,
    settings: AuthSettings,
    client: Client,
    code: str,
    redirect_uri: str | None,
    code_verifier: str | None,
) -> Grant:
    """Redeem a code: tokens (an ID token with `openid`), or 400 invalid_grant."""
    if not code_verifier:
        raise InvalidRequest("code_verifier is required (PKCE).")
    if not redirect_uri:
        raise InvalidRequest("redirect_uri is required.")
    now = utcnow()
    row = session.get(AuthorizationCode, token_hash(code))
    if row is None or row.client_id != client.client_id:
        raise InvalidGrant(BAD_CODE)
    if row.used_at is not None:
        raise _revoke_issued(session, row, now)
    # Claimed before anything else is checked: a code fails once and is gone.
    claimed = session.execute(
        update(AuthorizationCode)
        .where(AuthorizationCode.code_hash == row.code_hash, AuthorizationCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise _revoke_issued(session, row, now)
    if row.expires_at <= now or row.redirect_uri != redirect_uri:
        raise CodeSpent(BAD_CODE)
    if not VERIFIER.match(code_verifier) or not hmac.compare_digest(
        s256(code_verifier), row.code_challenge
    ):
        raise CodeSpent("The code_verifier does not match the code_challenge.")
    credential = session.get(Credential, row.user_id)
    if credential is None:
        raise CodeSpent(BAD_CODE)
    family = issuer.start_family(session, user_id=credential.id)
    grant = issuer.user_grant(session, credential=credential, family=family, scope=row.scope)
    session.execute(
        update(AuthorizationCode)
        .where(AuthorizationCode.code_hash == row.code_hash)
        .values(family_id=family.id)
        .execution_options(synchronize_session=False)
    )
    if "openid" not in row.scope.split():
        return grant
    id_token = issuer.id_token(
        session,
        issuer=settings.issuer_url,
        credential=credential,
        client_id=client.client_id,
        nonce=row.nonce,
        auth_time=row.auth_time,
        alg=client.id_token_alg,
    )
    return Grant(
        grant.access_token,
        grant.expires_in,
        grant.scope,
        grant.refresh_token,
        grant.refresh_expires_at,
        id_token=id_token,
        family_id=grant.family_id,
    )


def _revoke_issued(session: Session, row: AuthorizationCode, now: dt.datetime) -> CodeSpent:
    # RFC 6749 §4.1.2: a code used twice revokes what it gave, as far as possible.
    log.warning("authorization code reused", client_id=row.client_id, user_id=row.user_id)
    if row.family_id is not None:
        family = session.get(RefreshFamily, row.family_id)
        if family is not None and family.revoked_at is None:
            family.revoked_at = now
            session.flush()
    return CodeSpent(BAD_CODE)


def authenticate_code_client(
    *,
    session: Session,
    settings: AuthSettings,
    passwords: Passwords,
    client_id: str | None,
    secret: tuple[str, str] | None,
) -> Client:
    """The client redeeming a code: a confidential one by its secret, a public one by its id."""
    if secret is not None:
        stored = authenticate_client(
            session=session, passwords=passwords, client_id=secret[0], client_secret=secret[1]
        )
        client = find_client(session, settings, stored.client_id)
        if client is None:
            raise InvalidClient("This client is not registered for the code flow.")
        return client
    client = find_client(session, settings, client_id) if client_id else None
    if client is None or not client.public:
        raise InvalidClient()
    return client
