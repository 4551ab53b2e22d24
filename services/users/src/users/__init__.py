"""Bazaar users: profiles and addresses."""

from __future__ import annotations

from apiflask import APIFlask

from chassis.flaskapp import create_api_app
from users.openapi import document_uuid_parameters
from users.settings import UsersSettings


def create_app(settings: UsersSettings | None = None) -> APIFlask:
    """Build the users app; tests pass their own settings."""
    from users.addresses.views import bp as addresses
    from users.profiles.views import bp as profiles

    app = create_api_app(__name__, settings or UsersSettings(), title="Bazaar users")
    app.register_blueprint(profiles)
    app.register_blueprint(addresses)
    document_uuid_parameters(app)
    return app
