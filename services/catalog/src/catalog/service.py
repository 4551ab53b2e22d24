"""How the `bazaar` command runs the catalog."""

from pathlib import Path

from catalog.products.invalidation import invalidation_handlers
from catalog.reservations.handlers import saga_handlers
from catalog.seed import seed_demo_catalog
from catalog.settings import CatalogSettings
from chassis.events import Handler
from chassis.events.spec import EventsSpec
from chassis.registry import ServiceSpec


def handlers(settings: CatalogSettings) -> dict[str, Handler]:
    """Everything the catalog's worker consumes: the saga, and its own change events."""
    return {**saga_handlers(settings), **invalidation_handlers(settings)}


SERVICE = ServiceSpec(
    name="catalog",
    kind="wsgi",
    app_factory="catalog:create_app",
    settings_class=CatalogSettings,
    migrations=Path(__file__).parent / "migrations",
    seed=seed_demo_catalog,
    start_order=10,
    events=EventsSpec(handlers=handlers),
    rpc="catalog.rpc:register",
)
