"""The checkout endpoint: `POST /` with an Idempotency-Key turns the cart into an order."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import request, url_for

from chassis.flaskapp import db_session
from chassis.idempotency import idempotent
from orders.access import caller_actor, customer_id, signed_in
from orders.checkout import service
from orders.checkout.schemas import CheckoutRequest
from orders.order.schemas import OrderRead, order_read
from orders.upstreams import upstreams

bp = APIBlueprint("checkout", __name__, tag="Checkout")


@bp.post("/")
@signed_in
@idempotent()
@bp.input(CheckoutRequest, arg_name="body")
@bp.output(OrderRead, status_code=202)
def checkout(body: CheckoutRequest) -> Any:
    """Place an order from the cart (needs an Idempotency-Key); 202, the saga confirms it."""
    order = service.place_order(
        session=db_session(),
        upstreams=upstreams(),
        customer_id=customer_id(),
        authorization=request.headers["Authorization"],
        address_id=body.address_id,
        payment_method_id=body.payment_method_id,
    )
    location = url_for("order.get_order", order_id=order.id)
    return order_read(order, actor=caller_actor()), 202, {"Location": location}
