"""Everything auth's views, commands and seed work with, built once from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from auth.credentials.passwords import Passwords, password_hasher
from auth.external.service import Providers
from auth.keys.service import KeyCipher, KeyRing
from auth.profiles import SCOPE as PROFILES_SCOPE
from auth.profiles import Profiles
from auth.revocations import DurableRevocations
from auth.settings import AuthSettings
from auth.throttling import (
    DatabaseThrottleStore,
    LoginThrottle,
    RedisThrottleStore,
    ThrottlePolicy,
    ThrottleStore,
)
from auth.tokens.service import OwnTokenVerifier, TokenIssuer
from chassis.db import Database
from chassis.service_tokens import IssuedToken, ServiceToken


@dataclass
class AuthComponents:
    """The key ring, hasher, throttle, revocation list and users client of one process."""

    settings: AuthSettings
    db: Database
    keys: KeyRing
    issuer: TokenIssuer
    passwords: Passwords
    throttle: LoginThrottle
    revocations: DurableRevocations
    verifier: OwnTokenVerifier
    profiles: Profiles
    providers: Providers

    @classmethod
    def build(cls, settings: AuthSettings, db: Database) -> AuthComponents:
        """Wire the pieces; nothing here talks to the network yet."""
        keys = KeyRing(
            cipher=KeyCipher(settings.secret_key.get_secret_value()),
            access_ttl_seconds=settings.access_token_ttl_seconds,
            lead_seconds=settings.signing_key_lead_seconds,
            external_pems=settings.signing_key_pems(),
        )
        issuer = TokenIssuer(keys=keys, settings=settings)
        revocations = DurableRevocations(db, settings.redis_url, settings.data_dir)

        def own_token() -> IssuedToken:
            # A read of its own, never a write: it runs inside a registration whose
            # transaction holds the write lock on SQLite.
            with db.session_factory() as session:
                return issuer.own_service_token(session, scopes=[PROFILES_SCOPE])

        return cls(
            settings=settings,
            db=db,
            keys=keys,
            issuer=issuer,
            passwords=Passwords(password_hasher(settings)),
            throttle=LoginThrottle(_throttle_store(settings, db)),
            revocations=revocations,
            verifier=OwnTokenVerifier(keys=keys, settings=settings, revocations=revocations),
            profiles=Profiles(
                settings.users_url,
                ServiceToken(own_token),
                timeout=settings.users_timeout_seconds,
            ),
            providers=Providers(settings),
        )

    def ensure_signing_keys(self) -> dict[str, str]:
        """Create (or register the external) key of each line if needed; kids by algorithm."""
        with self.db.session() as session:
            return self.keys.ensure(session)

    def close(self) -> None:
        """Release connections."""
        self.profiles.close()
        self.revocations.close()
        if isinstance(self.throttle.store, RedisThrottleStore):
            self.throttle.store.close()


def _throttle_store(settings: AuthSettings, db: Database) -> ThrottleStore:
    policy = ThrottlePolicy(
        after=settings.throttle_after,
        base_delay=settings.throttle_base_delay_seconds,
        max_delay=settings.throttle_max_delay_seconds,
        forget_after=settings.throttle_forget_after_seconds,
    )
    if settings.redis_url:
        return RedisThrottleStore(settings.redis_url, policy)
    return DatabaseThrottleStore(db, policy)


def components() -> AuthComponents:
    """The components of the current app."""
    found: AuthComponents = current_app.extensions["auth"]
    return found
