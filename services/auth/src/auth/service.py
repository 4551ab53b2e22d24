"""How the `bazaar` command runs auth."""

from pathlib import Path

from auth.commands import auth_group, keys_group, users_group
from auth.seed import announce_demo_accounts, seed_demo_accounts
from auth.settings import AuthSettings
from chassis.registry import ServiceSpec


def platform_env(settings: AuthSettings) -> dict[str, str]:
    """What every service gets from `bazaar up`: where auth publishes its keys."""
    return {"BAZAAR_JWKS_URL": f"{settings.base_url}/.well-known/jwks.json"}


SERVICE = ServiceSpec(
    name="auth",
    kind="wsgi",
    app_factory="auth:create_app",
    settings_class=AuthSettings,
    migrations=Path(__file__).parent / "migrations",
    seed=seed_demo_accounts,
    start_order=20,
    commands=(auth_group, keys_group, users_group),
    platform_env=platform_env,
    announce=announce_demo_accounts,
)
