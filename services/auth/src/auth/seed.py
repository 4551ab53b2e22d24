"""Demo accounts for development: a customer and an admin with published passwords."""

from __future__ import annotations

from auth.components import AuthComponents
from auth.credentials.service import count_credentials
from auth.registration import register
from auth.settings import AuthSettings
from chassis.db import Database

# (email, password, display name, roles). The passwords are public: development only.
DEMO_ACCOUNTS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("customer@bazaar.test", "demo-customer-pass", "Demo Customer", ("customer",)),
    ("admin@bazaar.test", "demo-admin-password", "Demo Admin", ("admin",)),
)


class SeedRefused(RuntimeError):
    """Demo accounts with published passwords must never exist in production."""


def seed_demo_accounts(settings: AuthSettings) -> int:
    """Create the demo accounts (and their profiles in users) when there are no accounts."""
    if settings.env == "production":
        raise SeedRefused("refusing to create demo accounts when BAZAAR_ENV=production")
    db = Database(settings.database_url)
    parts = AuthComponents.build(settings, db)
    try:
        parts.ensure_signing_keys()
        with db.session() as session:
            if count_credentials(session=session):
                return 0
            for email, password, display_name, roles in DEMO_ACCOUNTS:
                register(
                    session=session,
                    passwords=parts.passwords,
                    profiles=parts.profiles,
                    email=email,
                    password=password,
                    display_name=display_name,
                    roles=roles,
                )
        return len(DEMO_ACCOUNTS)
    finally:
        parts.close()
        db.dispose()


def announce_demo_accounts(settings: AuthSettings) -> list[str]:
    """The lines `bazaar up` prints about the demo accounts (development only)."""
    if settings.env != "development":
        return []
    return [f"Demo {roles[0]}: {email} / {password}" for email, password, _, roles in DEMO_ACCOUNTS]
