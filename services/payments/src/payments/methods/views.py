"""Payment method endpoints, always the caller's own: parse, call one service function, answer."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import url_for

from chassis.flaskapp import db_session
from payments.access import caller_id, signed_in
from payments.cards import Card
from payments.components import current_processor
from payments.methods import service
from payments.methods.schemas import MethodCreate, MethodList, MethodRead

bp = APIBlueprint("methods", __name__, tag="Payment methods")


@bp.get("/methods")
@signed_in
@bp.output(MethodList)
def list_methods() -> MethodList:
    """The caller's saved cards, oldest first."""
    rows = service.list_methods(session=db_session(), customer_id=caller_id())
    return MethodList.model_validate({"items": rows})


@bp.post("/methods")
@signed_in
@bp.input(MethodCreate, arg_name="body")
@bp.output(MethodRead, status_code=201)
def create_method(body: MethodCreate) -> Any:
    """Save a card: it is tokenized, and only its brand, last 4 and expiry are kept."""
    card = Card(
        number=body.card_number, exp_month=body.exp_month, exp_year=body.exp_year, cvc=body.cvc
    )
    method = service.create_method(
        session=db_session(), processor=current_processor(), customer_id=caller_id(), card=card
    )
    location = url_for("methods.get_method", method_id=method.id)
    return MethodRead.model_validate(method), 201, {"Location": location}


@bp.get("/methods/<string:method_id>")
@signed_in
@bp.output(MethodRead)
def get_method(method_id: str) -> MethodRead:
    """One of the caller's saved cards; anyone else's is 404."""
    return MethodRead.model_validate(
        service.get_method(session=db_session(), customer_id=caller_id(), method_id=method_id)
    )


@bp.delete("/methods/<string:method_id>")
@signed_in
@bp.output({}, status_code=204)
def delete_method(method_id: str) -> Any:
    """Forget one of the caller's saved cards."""
    service.delete_method(session=db_session(), customer_id=caller_id(), method_id=method_id)
    return ""
