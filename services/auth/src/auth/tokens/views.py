"""The token endpoint and logout: parse, call one grant, render (RFC 6749)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from apiflask import APIBlueprint
from apiflask.exceptions import HTTPError as APIFlaskHTTPError
from flask import Response, current_app, jsonify, make_response, request
from werkzeug.exceptions import BadRequest

from auth.authorize.service import CodeSpent, authenticate_code_client, code_grant
from auth.components import AuthComponents, components
from auth.oauth_errors import InvalidClient, InvalidRequest, UnsupportedGrantType
from auth.request_info import client_ip
from auth.signin import sign_in
from auth.tokens import service
from auth.tokens.schemas import LogoutRequest, TokenRead, TokenRequest
from chassis.auth import bearer_token
from chassis.errors import MalformedJson, Unauthorized
from chassis.flaskapp import BEARER_SCHEME, accepts, db_session

bp = APIBlueprint("tokens", __name__, tag="Tokens")

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
REFRESH_COOKIE = "bazaar_refresh"
COOKIE_PATH = "/api/auth"  # the gateway's prefix: the browser sends it to auth only
TOKEN_ERRORS = {
    400: "invalid_request, invalid_grant, unsupported_grant_type or invalid_scope (`error`)",
    401: "invalid_client (`error`, with WWW-Authenticate: Basic)",
    429: "Too many failed sign-ins for this account or client IP; see Retry-After",
    503: "The login throttle's store (Redis) is unreachable: sign-in fails closed",
}
LOGOUT_ERRORS = {
    400: "invalid_request (`error`): a malformed body",
    401: "No bearer token, or one that is invalid, expired or already revoked",
    503: "The revocation list (Redis) is unreachable",
}


@bp.after_request
def _no_store(response: Response) -> Response:
    # RFC 6749 §5.1: token answers must not be cached anywhere.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@bp.errorhandler(APIFlaskHTTPError)
@bp.errorhandler(BadRequest)
@bp.errorhandler(MalformedJson)
def _as_invalid_request(error: Exception) -> Any:
    # RFC 6749 §5.2: malformed parameters are `invalid_request` (400), not a 422. These
    # views never abort(), so every APIFlask error here is a failed input validation.
    detail = "The request's parameters are missing, repeated or malformed."
    if isinstance(error, MalformedJson) and error.detail:
        detail = error.detail  # where the JSON broke
    return current_app.handle_user_exception(InvalidRequest(detail))


@bp.post("/token")
@accepts(FORM, JSON)
@bp.input(TokenRequest, location="json_or_form", arg_name="body")
@bp.output(TokenRead)
@bp.doc(responses=TOKEN_ERRORS)
def issue_token(body: TokenRequest) -> Response:
    """Issue tokens: authorization_code, refresh_token, client_credentials (and password)."""
    if any(len(values) > 1 for values in request.form.listvalues()):
        raise InvalidRequest("A parameter was sent more than once.")
    parts = components()
    grant, cookie_only = _grant(parts, body)
    answer = TokenRead(
        access_token=grant.access_token,
        expires_in=grant.expires_in,
        # A browser's refresh token lives in the httpOnly cookie alone, out of scripts' reach.
        refresh_token=None if cookie_only else grant.refresh_token,
        id_token=grant.id_token,
        scope=grant.scope,
    )
    response = jsonify(answer.model_dump(exclude_none=True))
    if cookie_only and grant.refresh_token and grant.refresh_expires_at:
        response.set_cookie(
            REFRESH_COOKIE,
            grant.refresh_token,
            expires=grant.refresh_expires_at,
            path=COOKIE_PATH,
            secure=parts.settings.secure_cookies,
            httponly=True,
            samesite="Strict",
        )
    return response


def _grant(parts: AuthComponents, body: TokenRequest) -> tuple[service.Grant, bool]:
    """The grant, and whether its refresh token goes in the cookie only (a browser's)."""
    session = db_session()
    if body.grant_type == "authorization_code":
        if not body.code:
            raise InvalidRequest("The authorization_code grant needs code.")
        client = authenticate_code_client(
            session=session,
            settings=parts.settings,
            passwords=parts.passwords,
            client_id=body.client_id,
            secret=_client_secret(body),
        )
        try:
            grant = code_grant(
                session=session,
                issuer=parts.issuer,
                settings=parts.settings,
                client=client,
                code=body.code,
                redirect_uri=body.redirect_uri,
                code_verifier=body.code_verifier,
            )
        except CodeSpent:
            session.commit()  # the code stays used (and a reuse's revocation stands)
            raise
        return grant, client.public
    if body.grant_type == "password" and parts.settings.password_grant_enabled:
        if not (body.username and body.password):
            raise InvalidRequest("The password grant needs username and password.")
        credential = sign_in(
            session=session,
            parts=parts,
            email=body.username,
            password=body.password,
            client_ip=client_ip(),
        )
        grant = service.password_grant(session=session, issuer=parts.issuer, credential=credential)
        return grant, False
    if body.grant_type == "refresh_token":
        token = body.refresh_token or request.cookies.get(REFRESH_COOKIE)
        if not token:
            raise InvalidRequest("Send refresh_token (or the refresh cookie).")
        try:
            grant = service.refresh_grant(session=session, issuer=parts.issuer, refresh_token=token)
            # Where the token came from, the next one goes: the cookie, or the answer.
            return grant, body.refresh_token is None
        except service.RefreshTokenReused:
            session.commit()  # the family's revocation stands although the answer is an error
            raise
    if body.grant_type == "client_credentials":
        client_id, client_secret = _client_authentication(body)
        grant = service.client_credentials_grant(
            session=session,
            issuer=parts.issuer,
            passwords=parts.passwords,
            client_id=client_id,
            client_secret=client_secret,
            scope=body.scope,
        )
        return grant, False
    raise UnsupportedGrantType(
        "grant_type must be authorization_code, refresh_token or client_credentials."
    )


def _client_secret(body: TokenRequest) -> tuple[str, str] | None:
    """A confidential client's id and secret, when it sent them (a public client has none)."""
    has_basic = request.headers.get("Authorization", "").partition(" ")[0].lower() == "basic"
    if has_basic or body.client_secret:
        return _client_authentication(body)
    return None


def _client_authentication(body: TokenRequest) -> tuple[str, str]:
    """The client's id and secret, from HTTP Basic or the body (never both)."""
    header = request.headers.get("Authorization", "")
    if header.partition(" ")[0].lower() == "basic":
        basic = request.authorization
        if basic is None or basic.username is None or basic.password is None:
            raise InvalidClient("The Basic credentials are malformed.")
        if body.client_secret:
            raise InvalidRequest("Authenticate the client one way: Basic or the body.")
        # RFC 6749 §2.3.1: id and secret are form-encoded inside Basic.
        return unquote_plus(basic.username), unquote_plus(basic.password)
    if body.client_id and body.client_secret:
        return body.client_id, body.client_secret
    raise InvalidClient("Client authentication is required.")


@bp.post("/logout")
@accepts(FORM, JSON)
@bp.input(LogoutRequest, location="json_or_form", arg_name="body")
@bp.output({}, status_code=204)
@bp.doc(security=BEARER_SCHEME, responses=LOGOUT_ERRORS)
def log_out(body: LogoutRequest) -> Response:
    """End the session: revoke the refresh family and the access token; clear the cookie."""
    token = bearer_token(request.headers.get("Authorization"))
    if token is None:
        raise Unauthorized("A bearer token is required.")
    parts = components()
    session = db_session()
    service.logout(
        session=session,
        revocations=parts.revocations,
        principal=parts.verifier.verify(session, token),
        refresh_token=body.refresh_token or request.cookies.get(REFRESH_COOKIE),
    )
    response = make_response("", 204)
    response.delete_cookie(
        REFRESH_COOKIE,
        path=COOKIE_PATH,
        secure=parts.settings.secure_cookies,
        httponly=True,
        samesite="Strict",
    )
    return response
