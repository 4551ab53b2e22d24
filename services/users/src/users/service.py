"""How the `bazaar` command runs the users service."""

from pathlib import Path

from chassis.registry import ServiceSpec
from users.settings import UsersSettings

SERVICE = ServiceSpec(
    name="users",
    kind="wsgi",
    app_factory="users:create_app",
    settings_class=UsersSettings,
    migrations=Path(__file__).parent / "migrations",
    seed=None,
    start_order=15,
)
