"""`/authorize` and the external providers' callbacks: parse, call the flow, render a page."""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from typing import Any
from urllib.parse import urlencode

from apiflask import APIBlueprint
from flask import request, session
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response

from auth.authorize.pages import render_page
from auth.authorize.service import (
    AuthorizationRequest,
    Client,
    RedirectedError,
    UnknownClient,
    find_client,
    issue_code,
    parse_request,
    redirect_to,
)
from auth.components import AuthComponents, components
from auth.external import service as external
from auth.models import Credential
from auth.request_info import client_ip
from auth.signin import sign_in, sign_up
from chassis.db import utcnow
from chassis.errors import BadRequest, Forbidden, NotFound, ProblemError
from chassis.flaskapp import accepts, db_session

bp = APIBlueprint("authorize", __name__, tag="Authorization")

FORM = "application/x-www-form-urlencoded"
CSRF_KEY = "csrf"
# A sign-in page may sit open a while; the consent step follows a sign-in at once.
FORM_MAX_AGE = 30 * 60
CONSENT_MAX_AGE = 5 * 60
PAGE_ERRORS = {
    303: "Signed in: on to the client's redirect_uri with code, state and iss (or an error)",
    200: "The page; again with an alert when a sign-in or registration failed (or is throttled)",
    400: "Unknown client or redirect_uri (never redirected), or an expired form",
    403: "The form's CSRF token is missing or wrong",
}


def see_other(location: str) -> Response:
    """A 303 to `location` with no body: the browser follows it, nothing else reads one."""
    response = Response(status=303, headers={"Location": location})
    # No body, so no type either (werkzeug would say text/plain).
    del response.headers["Content-Type"]
    return response


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        components().settings.secret_key.get_secret_value(), salt=f"bazaar-auth/{purpose}"
    )


def _csrf_token() -> str:
    token = session.get(CSRF_KEY)
    if not isinstance(token, str):
        token = session[CSRF_KEY] = secrets.token_urlsafe(32)
    return token


def _check_csrf() -> None:
    expected, sent = session.get(CSRF_KEY), request.form.get("csrf_token", "")
    if not isinstance(expected, str) or not hmac.compare_digest(expected, sent):
        raise Forbidden("The form expired or did not come from this site; reload the page.")


def _page_link(req: AuthorizationRequest, prompt: str | None) -> str:
    params = {
        "response_type": "code",
        "client_id": req.client_id,
        "redirect_uri": req.redirect_uri,
        "scope": req.scope,
        "state": req.state,
        "code_challenge": req.code_challenge,
        "code_challenge_method": "S256",
        "nonce": req.nonce,
        "prompt": prompt,
    }
    return "authorize?" + urlencode({k: v for k, v in params.items() if v})


def _form_page(
    parts: AuthComponents,
    req: AuthorizationRequest,
    *,
    register: bool = False,
    error: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    providers = [
        {"name": name, "display_name": provider.display_name}
        for name, provider in parts.settings.oidc_providers.items()
    ]
    targets = [req.redirect_uri] + [p.issuer for p in parts.settings.oidc_providers.values()]
    targets += [parts.providers.metadata(name).authorization_endpoint for name in _known(parts)]
    response = render_page(
        200,
        form_targets=targets,
        mode="register" if register else "login",
        title="Create an account" if register else "Log in",
        action="authorize",
        csrf=_csrf_token(),
        request_blob=_serializer("request").dumps(req.as_dict()),
        email=request.form.get("email", ""),
        display_name=request.form.get("display_name", ""),
        providers=providers,
        login_link=_page_link(req, None),
        register_link=_page_link(req, "create"),
        error=error,
    )
    response.headers.update(headers or {})
    return response


def _known(parts: AuthComponents) -> list[str]:
    """Providers whose discovery document is cached already (no network for a page)."""
    return [name for name in parts.settings.oidc_providers if parts.providers.is_cached(name)]


@bp.get("/authorize")
@bp.doc(responses=PAGE_ERRORS)
def authorize() -> Response:
    """The code flow's start: the sign-in page (`prompt=create`: the registration form)."""
    parts = components()
    try:
        req, _ = parse_request(db_session(), parts.settings, request.args.to_dict())
    except RedirectedError as exc:
        return see_other(exc.location)
    return _form_page(parts, req, register=req.prompt == "create")


@bp.post("/authorize")
@accepts(FORM)
@bp.doc(responses=PAGE_ERRORS)
def submit() -> Response:
    """A sign-in, registration, consent or provider choice posted from the pages."""
    _check_csrf()
    parts = components()
    if "consent" in request.form:
        return _consent_answer(parts)
    req = _signed_request(request.form.get("request", ""))
    provider = request.form.get("provider")
    if provider:
        return _start_external(parts, req, provider)
    action = request.form.get("action")
    email, password = request.form.get("email", ""), request.form.get("password", "")
    try:
        if action == "register":
            credential = sign_up(
                session=db_session(),
                parts=parts,
                email=email,
                password=password,
                display_name=request.form.get("display_name", "").strip(),
                client_ip=client_ip(),
            )
        elif action == "login":
            credential = sign_in(
                session=db_session(), parts=parts, email=email, password=password,
                client_ip=client_ip(),
            )  # fmt: skip
        else:
            raise BadRequest("Choose to log in or to create an account.")
    except ProblemError as exc:
        # The form again, with what went wrong. A page, so 200: the gateway replaces any
        # error status that carries no problem document. Nothing of this attempt is kept.
        db_session().rollback()
        return _form_page(
            parts,
            req,
            register=action == "register",
            error=exc.detail,
            headers=dict(exc.headers),
        )
    # Only now: the throttle's own transactions come first, before this request's (on
    # SQLite a write transaction of ours would hold the lock they wait for).
    return _signed_in(parts, req, _client_of(parts, req), credential)


def _signed_request(blob: str) -> AuthorizationRequest:
    try:
        fields: dict[str, Any] = _serializer("request").loads(blob, max_age=FORM_MAX_AGE)
        return AuthorizationRequest(**fields)
    except (BadSignature, TypeError) as exc:
        raise BadRequest("The sign-in form expired; go back to the shop and start again.") from exc


def _client_of(parts: AuthComponents, req: AuthorizationRequest) -> Client:
    # Checked again: the client may have been removed since the page was drawn.
    client = find_client(db_session(), parts.settings, req.client_id)
    if client is None or req.redirect_uri not in client.redirect_uris:
        raise UnknownClient("The client is no longer registered with this redirect_uri.")
    return client


def _signed_in(
    parts: AuthComponents,
    req: AuthorizationRequest,
    client: Client,
    credential: Credential,
    auth_time: dt.datetime | None = None,
) -> Response:
    """On to the client with a code, or first to the consent page for a third party."""
    auth_time = auth_time or utcnow()
    if not client.first_party:
        consent = _serializer("consent").dumps(
            {"request": req.as_dict(), "user_id": credential.id, "auth_time": auth_time.isoformat()}
        )
        return render_page(
            200,
            form_targets=[req.redirect_uri],
            mode="consent",
            title=f"Sign in to {client.name}",
            client_name=client.name,
            scopes=[s for s in req.scope.split() if s != "openid"],
            action="authorize",
            csrf=_csrf_token(),
            consent=consent,
        )
    location = issue_code(
        db_session(), parts.settings, req, user_id=credential.id, auth_time=auth_time
    )
    return see_other(location)


def _consent_answer(parts: AuthComponents) -> Response:
    try:
        fields = _serializer("consent").loads(request.form["consent"], max_age=CONSENT_MAX_AGE)
        req = AuthorizationRequest(**fields["request"])
        user_id, auth_time = str(fields["user_id"]), dt.datetime.fromisoformat(fields["auth_time"])
    except (BadSignature, KeyError, TypeError, ValueError) as exc:
        raise BadRequest("The consent form expired; sign in again.") from exc
    _client_of(parts, req)
    if request.form.get("action") != "allow":
        denied = {"error": "access_denied", "error_description": "The user said no."}
        return see_other(redirect_to(req.redirect_uri, {**denied, "state": req.state}))
    location = issue_code(db_session(), parts.settings, req, user_id=user_id, auth_time=auth_time)
    return see_other(location)


def _start_external(parts: AuthComponents, req: AuthorizationRequest, name: str) -> Response:
    if name not in parts.settings.oidc_providers:
        raise BadRequest(f"There is no provider {name!r}.")
    # The provider's discovery document first: no remote call once a write has begun.
    metadata = parts.providers.metadata(name)
    _client_of(parts, req)
    location = external.start_login(
        db_session(),
        parts.providers,
        name,
        metadata,
        request_blob=_serializer("request").dumps(req.as_dict()),
    )
    return see_other(location)


@bp.get("/external/<name>/callback")
@bp.doc(
    responses={
        303: "Signed in: on to the client's redirect_uri with a code",
        400: "Unknown, expired or already completed sign-in (state)",
        401: "The provider's ID token did not verify, or its email is not verified",
        404: "No provider of that name",
        502: "The provider could not be reached",
    }
)
def external_callback(name: str) -> Response:
    """Where a provider sends the browser back: verify its ID token, sign the user in."""
    parts = components()
    if name not in parts.settings.oidc_providers:
        raise NotFound(f"There is no provider {name!r}.")
    state = request.args.get("state", "")
    # The pending sign-in is claimed in a transaction of its own, committed before any
    # call to the provider: a state works once, and no lock is held while waiting.
    with parts.db.session() as own:
        login = external.claim_login(own, name, state)
        nonce, verifier, blob = login.nonce, login.code_verifier, login.request
    req = _signed_request(blob)
    try:
        if "error" in request.args or not request.args.get("code"):
            raise external.ExternalSignInFailed("The sign-in was cancelled at the provider.")
        id_token = parts.providers.exchange(name, code=request.args["code"], code_verifier=verifier)
        user = parts.providers.verify(name, id_token, nonce=nonce)
    except ProblemError as exc:
        return _form_page(parts, req, error=exc.detail)
    with parts.db.session() as own:
        client = find_client(own, parts.settings, req.client_id)
        if client is None or req.redirect_uri not in client.redirect_uris:
            raise UnknownClient("The client is no longer registered with this redirect_uri.")
        credential = external.account_for(
            session=own,
            passwords=parts.passwords,
            profiles=parts.profiles,
            provider=name,
            user=user,
        )
        if not client.first_party:
            return _signed_in(parts, req, client, credential)
        location = issue_code(own, parts.settings, req, user_id=credential.id, auth_time=utcnow())
    return see_other(location)
