"""How the `bazaar` command runs payments."""

from pathlib import Path

from chassis.events.spec import EventsSpec
from chassis.registry import ServiceSpec
from payments.charges.handlers import build_handlers
from payments.settings import PaymentsSettings

SERVICE = ServiceSpec(
    name="payments",
    kind="wsgi",
    app_factory="payments:create_app",
    settings_class=PaymentsSettings,
    migrations=Path(__file__).parent / "migrations",
    start_order=20,
    events=EventsSpec(handlers=build_handlers),
)
