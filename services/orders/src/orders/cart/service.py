"""Cart operations: plain functions over a session; they flush, the request commits."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chassis.errors import Conflict, NotFound
from orders.models import Cart, CartItem
from orders.upstreams import Upstreams

# Enough for any real basket, and it bounds what one checkout asks catalog for.
MAX_LINES = 50
MAX_PRODUCT_ID = 2**31 - 1


class UnknownProduct(NotFound):
    """The product the path names does not exist in catalog or is not for sale."""

    slug, title = "unknown-product", "Unknown product"


class CurrencyMismatch(Conflict):
    """One cart holds one currency; this product is priced in another (the cart's state)."""

    slug, title = "currency-mismatch", "Currency differs from the cart's"


class CartFull(Conflict):
    """The cart already holds the most products it may."""

    slug, title = "cart-full", "Cart is full"


class NotInCart(NotFound):
    """The product is not in the cart."""

    slug, title = "not-in-cart", "Product not in cart"


def get_cart(*, session: Session, customer_id: str) -> Cart | None:
    """The customer's cart, or None before they first put something in it."""
    return session.scalars(select(Cart).where(Cart.customer_id == customer_id)).one_or_none()


def lock_cart(session: Session, customer_id: str) -> Cart | None:
    """The customer's cart with its row locked until the transaction ends.

    Cart changes and checkouts of one customer then run one after another (PostgreSQL; SQLite
    serialises writers anyway): two checkouts cannot both turn the same cart into orders.
    """
    stmt = (
        select(Cart)
        .where(Cart.customer_id == customer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.scalars(stmt).one_or_none()


def _ensure_cart(session: Session, customer_id: str) -> Cart:
    cart = lock_cart(session, customer_id)
    if cart is not None:
        return cart
    try:
        with session.begin_nested():
            cart = Cart(customer_id=customer_id, items=[])
            session.add(cart)
    except IntegrityError:
        # A concurrent first request created it; use theirs.
        cart = lock_cart(session, customer_id)
        if cart is None:
            raise
    return cart


def set_quantity(
    *, session: Session, upstreams: Upstreams, customer_id: str, product_id: int, quantity: int
) -> Cart:
    """Put `quantity` of a product in the cart, with its current name and price from catalog."""
    product = upstreams.product(product_id) if 0 < product_id <= MAX_PRODUCT_ID else None
    if product is None:
        raise UnknownProduct(f"No product with id {product_id} is for sale.")
    cart = _ensure_cart(session, customer_id)
    item = next((i for i in cart.items if i.product_id == product_id), None)
    others = {i.currency for i in cart.items if i is not item}
    if others and product.price.currency not in others:
        raise CurrencyMismatch(
            f"The cart holds {', '.join(sorted(others))}; this product costs "
            f"{product.price.currency}.",
            extra={"cart_currency": sorted(others)[0], "currency": product.price.currency},
        )
    if item is None:
        if len(cart.items) >= MAX_LINES:
            raise CartFull(f"A cart holds at most {MAX_LINES} different products.")
        item = CartItem(product_id=product_id)
        cart.items.append(item)
    item.quantity = quantity
    item.sku = product.sku
    item.name = product.name
    item.unit_price_amount = product.price.amount
    item.currency = product.price.currency
    session.flush()
    return cart


def remove_item(*, session: Session, customer_id: str, product_id: int) -> None:
    """Take a product out of the cart; 404 when it is not there."""
    cart = lock_cart(session, customer_id)
    item = next((i for i in cart.items if i.product_id == product_id), None) if cart else None
    if cart is None or item is None:
        raise NotInCart(f"Product {product_id} is not in the cart.")
    cart.items.remove(item)
    session.flush()
