"""Bazaar orders: cart, checkout, the order saga, order history and its status stream."""

from __future__ import annotations

from apiflask import APIFlask

from chassis.flaskapp import create_api_app
from orders.settings import OrdersSettings


def create_app(settings: OrdersSettings | None = None) -> APIFlask:
    """Build the orders app; tests pass their own settings."""
    from orders.cart.views import bp as cart
    from orders.checkout.views import bp as checkout
    from orders.order.views import bp as order
    from orders.upstreams import Upstreams

    settings = settings or OrdersSettings()
    app = create_api_app(__name__, settings, title="Bazaar orders")
    app.extensions["orders.upstreams"] = Upstreams(settings)
    app.register_blueprint(cart)
    app.register_blueprint(checkout)
    app.register_blueprint(order)
    return app
