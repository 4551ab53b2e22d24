"""How the `bazaar` command runs orders."""

from pathlib import Path

from chassis.events.spec import EventsSpec
from chassis.registry import ServiceSpec
from orders.saga import handlers, tasks
from orders.settings import OrdersSettings

SERVICE = ServiceSpec(
    name="orders",
    kind="wsgi",
    app_factory="orders:create_app",
    settings_class=OrdersSettings,
    migrations=Path(__file__).parent / "migrations",
    start_order=30,
    events=EventsSpec(handlers=handlers, tasks=tasks),
)
