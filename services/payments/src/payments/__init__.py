"""Bazaar payments: payment methods, authorizations, captures, refunds; a sandbox processor."""

from __future__ import annotations

from apiflask import APIFlask

from chassis.flaskapp import create_api_app
from payments.settings import PaymentsSettings


def create_app(settings: PaymentsSettings | None = None) -> APIFlask:
    """Build the payments app; tests pass their own settings."""
    from payments.charges.views import bp as charges
    from payments.components import EXTENSION, build_processor
    from payments.methods.views import bp as methods

    settings = settings or PaymentsSettings()
    app = create_api_app(__name__, settings, title="Bazaar payments")
    app.extensions[EXTENSION] = build_processor(settings)
    app.register_blueprint(methods)
    app.register_blueprint(charges)
    return app
