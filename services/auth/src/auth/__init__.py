"""Bazaar auth: OAuth 2 / OpenID Connect provider, JWKS, argon2id credentials, revocation."""

from __future__ import annotations

from apiflask import APIFlask
from werkzeug.middleware.proxy_fix import ProxyFix

from auth.settings import AuthSettings
from chassis.flaskapp import create_api_app


def create_app(settings: AuthSettings | None = None) -> APIFlask:
    """Build the auth app; tests pass their own settings."""
    from auth.authorize.views import bp as authorize
    from auth.components import AuthComponents
    from auth.credentials.views import bp as credentials
    from auth.discovery import bp as discovery
    from auth.keys.views import bp as keys
    from auth.tokens.views import bp as tokens

    settings = settings or AuthSettings()
    app = create_api_app(__name__, settings, title="Bazaar auth")
    ctx = app.extensions["bazaar"]
    # auth checks its own tokens with its own keys (auth.tokens.service.OwnTokenVerifier);
    # a JWKS verifier here would only make auth call itself over HTTP.
    ctx.verifier = None
    parts = AuthComponents.build(settings, ctx.db)
    parts.ensure_signing_keys()
    # A Redis that lost its data (or a first start) gets the list back before any request.
    parts.revocations.refill_quietly()
    app.extensions["auth"] = parts
    # Here and not above: a process forked after create_app needs a watcher of its own.
    app.before_request(parts.revocations.watch)
    if settings.proxy_hops:
        # Behind the gateway every caller would be 127.0.0.1: take the client's address
        # from the X-Forwarded-For that the gateway replaces on every request.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops)  # type: ignore[method-assign]
    app.register_blueprint(credentials)
    app.register_blueprint(tokens)
    app.register_blueprint(keys)
    app.register_blueprint(authorize)
    app.register_blueprint(discovery)
    # The sign-in pages' CSRF token lives in Flask's signed session cookie. Lax, not
    # Strict: a provider's redirect back to the callback is a cross-site navigation.
    app.config.update(
        SESSION_COOKIE_NAME="bazaar_auth_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
    )
    return app
