"""How the `bazaar` command runs the catalog."""

from pathlib import Path

from catalog.reservations.handlers import saga_handlers
from catalog.seed import seed_demo_catalog
from catalog.settings import CatalogSettings
from chassis.events.spec import EventsSpec
from chassis.registry import ServiceSpec

SERVICE = ServiceSpec(
    name="catalog",
    kind="wsgi",
    app_factory="catalog:create_app",
    settings_class=CatalogSettings,
    migrations=Path(__file__).parent / "migrations",
    seed=seed_demo_catalog,
    start_order=10,
    events=EventsSpec(handlers=saga_handlers),
)
