"""Bazaar catalog: products, categories, search, stock."""

from __future__ import annotations

from apiflask import APIFlask

from catalog.settings import CatalogSettings
from chassis.flaskapp import create_api_app, delay_requests_by_fault


def create_app(settings: CatalogSettings | None = None) -> APIFlask:
    """Build the catalog app; tests pass their own settings."""
    from catalog.categories.views import bp as categories
    from catalog.images.views import bp as images
    from catalog.products.views import bp as products

    app = create_api_app(__name__, settings or CatalogSettings(), title="Bazaar catalog")
    delay_requests_by_fault(app, "catalog_latency_ms")
    app.register_blueprint(products)
    app.register_blueprint(categories)
    app.register_blueprint(images)
    return app
