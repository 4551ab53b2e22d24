"""Cart endpoints, always the caller's own cart."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from chassis.flaskapp import db_session
from orders.access import customer_id, signed_in
from orders.cart import service
from orders.cart.schemas import CartRead, QuantityUpdate, cart_read
from orders.upstreams import upstreams

bp = APIBlueprint("cart", __name__, tag="Cart")


@bp.get("/cart")
@signed_in
@bp.output(CartRead)
def get_cart() -> CartRead:
    """The caller's cart with its total."""
    return cart_read(service.get_cart(session=db_session(), customer_id=customer_id()))


@bp.put("/cart/items/<int:product_id>")
@signed_in
@bp.input(QuantityUpdate, arg_name="body")
@bp.output(CartRead)
def set_quantity(product_id: int, body: QuantityUpdate) -> CartRead:
    """Set how many of a product the cart holds (1 to 99); 404 for an unknown product."""
    cart = service.set_quantity(
        session=db_session(),
        upstreams=upstreams(),
        customer_id=customer_id(),
        product_id=product_id,
        quantity=body.quantity,
    )
    return cart_read(cart)


@bp.delete("/cart/items/<int:product_id>")
@signed_in
@bp.output({}, status_code=204)
def remove_item(product_id: int) -> Any:
    """Take a product out of the cart; 404 when it is not in it."""
    service.remove_item(session=db_session(), customer_id=customer_id(), product_id=product_id)
    return ""
