"""How the `bazaar` command runs payments."""

from pathlib import Path

from chassis.events.spec import EventsSpec
from chassis.registry import ServiceSpec
from payments.charges.handlers import build_handlers
from payments.settings import PaymentsSettings


def announce(settings: PaymentsSettings) -> list[str]:
    """What `bazaar up` prints: the sandbox's test cards (any future expiry, any CVC)."""
    return [
        "Payments run on the sandbox processor (no real card network). Test cards:"
        " 4242 4242 4242 4242 succeeds, 4000 0000 0000 0002 is declined,"
        " 4000 0000 0000 9995 has insufficient funds, 4000 0000 0000 0119 fails twice then"
        " succeeds.",
    ]


SERVICE = ServiceSpec(
    name="payments",
    kind="wsgi",
    app_factory="payments:create_app",
    settings_class=PaymentsSettings,
    migrations=Path(__file__).parent / "migrations",
    start_order=20,
    events=EventsSpec(handlers=build_handlers),
    announce=announce,
)
