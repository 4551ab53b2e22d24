"""Checkout: the cart becomes a PENDING order, and `order.placed` starts the saga.

Everything is checked before anything is written: the address (users), the payment method
(payments) and every price and stock level (catalog). Then one transaction stores the
order, its first history row and the outbox event, and empties the cart.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy.orm import Session

from chassis.errors import Conflict, ValidationFailed
from chassis.events import publish
from orders.cart.service import lock_cart
from orders.models import CartItem, Order, OrderItem, OrderStatus
from orders.order.service import record
from orders.upstreams import CatalogProduct, Upstreams


class CartEmpty(Conflict):
    """There is nothing to order."""

    slug, title = "cart-empty", "Cart is empty"


class UnknownAddress(ValidationFailed):
    """The address is not one of the caller's."""

    slug, title = "unknown-address", "Unknown address"


class UnknownPaymentMethod(ValidationFailed):
    """The payment method is not one of the caller's."""

    slug, title = "unknown-payment-method", "Unknown payment method"


class ProductUnavailable(Conflict):
    """A product in the cart is no longer for sale."""

    slug, title = "product-unavailable", "Product unavailable"


class OutOfStock(Conflict):
    """Catalog has fewer units than the cart asks for (the reservation has the last word)."""

    slug, title = "out-of-stock", "Out of stock"


class MixedCurrencies(Conflict):
    """Catalog now prices the cart's products in different currencies."""

    slug, title = "mixed-currencies", "Products priced in different currencies"


@dataclass(frozen=True)
class PricedLine:
    """A cart line with the product as catalog has it now."""

    product: CatalogProduct
    quantity: int

    @property
    def total(self) -> int:
        """The line's price in minor units."""
        return self.product.price.amount * self.quantity


def new_order_id() -> str:
    """A random, unguessable order id: `ord_` and 24 hex digits."""
    return "ord_" + secrets.token_hex(12)


def _priced(upstreams: Upstreams, item: CartItem) -> PricedLine:
    product = upstreams.product(item.product_id)
    extra = {"product_id": item.product_id}
    if product is None:
        raise ProductUnavailable(f"{item.name} is no longer for sale.", extra=extra)
    if product.stock < item.quantity:
        raise OutOfStock(
            f"Only {product.stock} of {product.name} left; the cart holds {item.quantity}.",
            extra={**extra, "stock": product.stock},
        )
    return PricedLine(product=product, quantity=item.quantity)


def place_order(
    *,
    session: Session,
    upstreams: Upstreams,
    customer_id: str,
    authorization: str,
    address_id: str,
    payment_method_id: str,
) -> Order:
    """Turn the customer's cart into a PENDING order and publish `order.placed`.

    `authorization` is the caller's own Authorization header: users and payments answer
    for the caller's addresses and payment methods only.
    """
    cart = lock_cart(session, customer_id)
    if cart is None or not cart.items:
        raise CartEmpty("Put something in the cart first.")
    address = upstreams.address(address_id, authorization=authorization)
    if address is None:
        raise UnknownAddress(f"You have no address with id {address_id}.")
    if not upstreams.has_payment_method(payment_method_id, authorization=authorization):
        raise UnknownPaymentMethod(f"You have no payment method with id {payment_method_id}.")
    lines = [_priced(upstreams, item) for item in cart.items]
    currencies = sorted({line.product.price.currency for line in lines})
    if len(currencies) > 1:
        raise MixedCurrencies(
            "The cart's products are now priced in " + ", ".join(currencies) + ".",
            extra={"currencies": currencies},
        )
    subtotal = sum(line.total for line in lines)
    order = Order(
        id=new_order_id(),
        customer_id=customer_id,
        status=OrderStatus.PENDING,
        currency=currencies[0],
        subtotal_amount=subtotal,
        total_amount=subtotal,  # shipping is free for now
        shipping_address=address.model_dump(),
        payment_method_id=payment_method_id,
        version=0,
        items=[
            OrderItem(
                product_id=line.product.id,
                sku=line.product.sku,
                name=line.product.name,
                unit_price_amount=line.product.price.amount,
                quantity=line.quantity,
                line_total_amount=line.total,
            )
            for line in lines
        ],
        history=[],
    )
    record(order, "order placed")
    session.add(order)
    publish(
        session,
        "order.placed",
        {
            "order_id": order.id,
            "customer_id": customer_id,
            "items": [{"product_id": i.product_id, "quantity": i.quantity} for i in order.items],
            "total": {"amount": order.total_amount, "currency": order.currency},
            "payment_method_id": payment_method_id,
        },
    )
    cart.items.clear()
    session.flush()
    return order
