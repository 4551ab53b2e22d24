"""OAuth clients: create one (the secret is shown once), authenticate one."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from auth.credentials.passwords import Passwords
from auth.keys.service import ALGORITHMS, DEFAULT_ID_TOKEN_ALGORITHM
from auth.models import OAuthClient
from auth.oauth_errors import InvalidClient
from chassis.errors import Conflict, ValidationFailed

CLIENT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
# RFC 6749 §3.3 scope-token: printable ASCII except space, `"` and `\`.
SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")
# auth signs `client:auth` tokens for itself; no stored client may take that name.
RESERVED_IDS = frozenset({"auth"})


class DuplicateClient(Conflict):
    """A client with this id exists."""

    slug, title = "duplicate-client", "Client already exists"


def redirect_uri_problem(uri: str) -> str | None:
    """Why a redirect URI cannot be registered (RFC 9700 §2.1, §4.1.1), or None."""
    parts = urlsplit(uri)
    local = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        return f"{uri!r} must be https (http only for localhost)"
    if not parts.hostname or parts.fragment or "#" in uri or "*" in uri or len(uri) > 2000:
        return f"{uri!r} must be an absolute URL without fragment or wildcard"
    return None


def create_client(
    *,
    session: Session,
    passwords: Passwords,
    client_id: str,
    scopes: Sequence[str],
    redirect_uris: Sequence[str] = (),
    id_token_alg: str = DEFAULT_ID_TOKEN_ALGORITHM,
) -> str:
    """Store a client with an argon2id-hashed random secret; return the secret.

    With redirect URIs it may also use the code flow (a third party: users consent); its
    ID tokens are signed with `id_token_alg` (RS256 unless it asked for EdDSA).
    """
    if not CLIENT_ID.match(client_id) or client_id in RESERVED_IDS:
        raise ValidationFailed(
            "A client id is 1-64 lower-case letters, digits, '-' or '_' (and not 'auth')."
        )
    bad = [s for s in scopes if not SCOPE_TOKEN.match(s)]
    if bad or not scopes:
        raise ValidationFailed(f"Give at least one scope; these are malformed: {bad}.")
    problems = [p for p in map(redirect_uri_problem, redirect_uris) if p]
    if problems:
        raise ValidationFailed("; ".join(problems) + ".")
    if id_token_alg not in ALGORITHMS:
        raise ValidationFailed(f"The ID token algorithm must be one of {', '.join(ALGORITHMS)}.")
    if session.get(OAuthClient, client_id) is not None:
        raise DuplicateClient(f"A client named {client_id!r} exists.")
    secret = secrets.token_urlsafe(32)
    session.add(
        OAuthClient(
            client_id=client_id,
            secret_hash=passwords.hash(secret),
            scopes=" ".join(dict.fromkeys(scopes)),
            redirect_uris=list(dict.fromkeys(redirect_uris)),
            id_token_signed_response_alg=id_token_alg,
        )
    )
    session.flush()
    return secret


def authenticate_client(
    *, session: Session, passwords: Passwords, client_id: str, client_secret: str
) -> OAuthClient:
    """The client when the secret matches; 401 invalid_client otherwise (same time either way)."""
    client = session.get(OAuthClient, client_id) if CLIENT_ID.match(client_id) else None
    matches = passwords.verify(client.secret_hash if client else None, client_secret)
    if client is None or not matches:
        raise InvalidClient()
    if passwords.needs_rehash(client.secret_hash):
        client.secret_hash = passwords.hash(client_secret)
        session.flush()
    return client
