"""Registration endpoint: parse, call the registration, render."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from auth.components import components
from auth.credentials.schemas import AccountCreate, AccountRead
from auth.request_info import client_ip
from auth.signin import sign_up
from chassis.flaskapp import db_session

bp = APIBlueprint("credentials", __name__, tag="Accounts")


@bp.post("/register")
@bp.input(AccountCreate, arg_name="body")
@bp.output(AccountRead, status_code=201)
@bp.doc(
    responses={
        409: "An account with this email exists",
        422: "Invalid body or weak password",
        429: "Too many failed attempts from this client; see Retry-After",
        503: "The users service or the throttle store is unavailable; nothing was stored",
    }
)
def register_account(body: AccountCreate) -> Any:
    """Create a customer account (credentials here, the profile in users)."""
    credential = sign_up(
        session=db_session(),
        parts=components(),
        email=body.email,
        password=body.password,
        display_name=body.display_name,
        client_ip=client_ip(),
    )
    return AccountRead(
        id=credential.id, email=credential.email, display_name=body.display_name
    ), 201
