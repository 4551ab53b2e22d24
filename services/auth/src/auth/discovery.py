"""Discovery (RFC 8414, OpenID Connect Discovery 1.0) and the OIDC userinfo endpoint."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import request

from auth.components import components
from auth.keys.service import DEFAULT_ID_TOKEN_ALGORITHM, EDDSA
from auth.models import Credential
from chassis.auth import bearer_token
from chassis.errors import Forbidden, Unauthorized
from chassis.flaskapp import db_session

bp = APIBlueprint("discovery", __name__, tag="Discovery")
# RS256 first: OpenID Connect Discovery §3 requires it; EdDSA for clients that register it.
ID_TOKEN_ALGORITHMS = (DEFAULT_ID_TOKEN_ALGORITHM, EDDSA)
CACHE_CONTROL = "public, max-age=300"
USERINFO_CHALLENGE = 'Bearer realm="bazaar", error="invalid_token"'


def metadata() -> dict[str, Any]:
    """The authorization server's metadata; every URL is under the issuer, at the gateway."""
    settings = components().settings
    issuer = settings.issuer_url
    grants = ["authorization_code", "refresh_token", "client_credentials"]
    if settings.password_grant_enabled:
        grants.append("password")
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "scopes_supported": ["openid", "email", "profile"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": grants,
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(ID_TOKEN_ALGORITHMS),
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "email",
            "email_verified",
        ],
        "prompt_values_supported": ["login", "consent", "create"],
        "authorization_response_iss_parameter_supported": True,
    }


@bp.get("/.well-known/openid-configuration")
def openid_configuration() -> Any:
    """OpenID Connect Discovery: how any OIDC client signs users in with Bazaar."""
    return metadata(), 200, {"Cache-Control": CACHE_CONTROL}


@bp.get("/.well-known/oauth-authorization-server")
def oauth_authorization_server() -> Any:
    """RFC 8414 authorization server metadata (the same facts)."""
    return metadata(), 200, {"Cache-Control": CACHE_CONTROL}


@bp.route("/userinfo", methods=["GET", "POST"])
@bp.doc(
    responses={
        401: "No bearer token, or an invalid, expired or revoked one",
        403: "The token was not issued with scope openid",
    }
)
def userinfo() -> Any:
    """The signed-in user's claims (OIDC Core §5.3), for a token with scope `openid`."""
    token = bearer_token(request.headers.get("Authorization"))
    if token is None:
        raise Unauthorized("A bearer token is required.", headers={"WWW-Authenticate": "Bearer"})
    parts = components()
    session = db_session()
    try:
        principal = parts.verifier.verify(session, token)
    except Unauthorized as exc:
        raise Unauthorized(exc.detail, headers={"WWW-Authenticate": USERINFO_CHALLENGE}) from exc
    if not principal.has_scope("openid"):
        raise Forbidden("The token was not issued with scope openid.")
    credential = session.get(Credential, principal.subject)
    if credential is None:
        raise Unauthorized("The account no longer exists.")
    return {"sub": credential.id, "email": credential.email, "email_verified": False}
