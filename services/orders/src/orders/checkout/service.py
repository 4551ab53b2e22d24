"""Checkout: the cart becomes a PENDING order, and `order.placed` starts the saga.

Everything is checked before anything is locked or written: the cart is read, its read
transaction ended, then the address (users), the payment method (payments) and every price
and stock level (catalog, one call for the whole cart) are checked. Only then is the cart
locked and compared with what was priced; one short transaction stores the order, its
first history row and the outbox event, and empties the cart. No lock is held, and no
transaction open, while another service answers.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy.orm import Session

from chassis import tracing
from chassis.errors import Conflict, ValidationFailed
from chassis.events import publish
from orders.cart.service import get_cart, lock_cart
from orders.models import Cart, Order, OrderItem, OrderStatus
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


class CartChanged(Conflict):
    """The cart kept changing while checkout priced it."""

    slug, title = "cart-changed", "Cart changed during checkout"


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


# A cart changed between pricing and locking is priced again, a few times at most.
PRICING_ATTEMPTS = 3
CartLines = tuple[tuple[int, int, str], ...]


def _lines_of(cart: Cart | None) -> CartLines:
    """What checkout prices: (product id, quantity, name) per line, in product order."""
    if cart is None:
        return ()
    return tuple(sorted((i.product_id, i.quantity, i.name) for i in cart.items))


def _priced(products: dict[int, CatalogProduct], lines: CartLines) -> list[PricedLine]:
    priced = []
    for product_id, quantity, name in lines:
        product = products.get(product_id)
        extra = {"product_id": product_id}
        if product is None:
            raise ProductUnavailable(f"{name} is no longer for sale.", extra=extra)
        if product.stock < quantity:
            raise OutOfStock(
                f"Only {product.stock} of {product.name} left; the cart holds {quantity}.",
                extra={**extra, "stock": product.stock},
            )
        priced.append(PricedLine(product=product, quantity=quantity))
    currencies = sorted({line.product.price.currency for line in priced})
    if len(currencies) > 1:
        raise MixedCurrencies(
            "The cart's products are now priced in " + ", ".join(currencies) + ".",
            extra={"currencies": currencies},
        )
    return priced


def _cart_lines(session: Session, customer_id: str) -> CartLines:
    """The cart's lines as they are now, with the read's transaction ended.

    Rolled back, not committed: the session has written nothing, and on SQLite a unit of
    work's first read holds the database's write lock, which no remote call may wait under.
    """
    lines = _lines_of(get_cart(session=session, customer_id=customer_id))
    session.rollback()
    return lines


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
    for the caller's addresses and payment methods only. The session must have nothing
    pending: its transaction is ended before other services are called.
    """
    lines = _cart_lines(session, customer_id)
    if not lines:
        raise CartEmpty("Put something in the cart first.")
    address = upstreams.address(address_id, authorization=authorization)
    if address is None:
        raise UnknownAddress(f"You have no address with id {address_id}.")
    if not upstreams.has_payment_method(payment_method_id, authorization=authorization):
        raise UnknownPaymentMethod(f"You have no payment method with id {payment_method_id}.")
    for _ in range(PRICING_ATTEMPTS):
        priced = _priced(upstreams.products([line[0] for line in lines]), lines)
        cart = lock_cart(session, customer_id)
        # The cart may have changed while catalog answered; what was priced is what is sold.
        locked = _lines_of(cart)
        if cart is not None and locked == lines:
            order = _write_order(
                session=session,
                cart=cart,
                customer_id=customer_id,
                priced=priced,
                shipping_address=address.model_dump(),
                payment_method_id=payment_method_id,
            )
            # `bazaar trace <order id>` finds the checkout's trace by this attribute.
            tracing.set_attribute(tracing.ORDER_ID, order.id)
            return order
        session.rollback()
        if not locked:
            raise CartEmpty("Put something in the cart first.")
        lines = locked
    raise CartChanged("The cart changed while it was checked out; try again.")


def _write_order(
    *,
    session: Session,
    cart: Cart,
    customer_id: str,
    priced: list[PricedLine],
    shipping_address: dict[str, object],
    payment_method_id: str,
) -> Order:
    """Store the order, its history and its event, and empty the (locked) cart."""
    currency = priced[0].product.price.currency
    subtotal = sum(line.total for line in priced)
    order = Order(
        id=new_order_id(),
        customer_id=customer_id,
        status=OrderStatus.PENDING,
        currency=currency,
        subtotal_amount=subtotal,
        total_amount=subtotal,  # shipping is free for now
        shipping_address=shipping_address,
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
            for line in priced
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
