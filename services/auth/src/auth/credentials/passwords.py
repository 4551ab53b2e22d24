"""Password hashing (argon2id) and the rules a new password must pass."""

from __future__ import annotations

import secrets
from functools import cache
from importlib import resources

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from auth.settings import AuthSettings
from chassis.logging import get_logger

MIN_LENGTH = 12
MAX_LENGTH = 128

log = get_logger("auth.passwords")


def password_hasher(settings: AuthSettings) -> PasswordHasher:
    """The argon2id hasher with the configured cost."""
    return PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
        hash_len=32,
        salt_len=16,
        type=Type.ID,
    )


class Passwords:
    """Hashes and checks passwords; unknown accounts cost the same time as known ones."""

    def __init__(self, hasher: PasswordHasher) -> None:
        self.hasher = hasher
        # Made now, not on the first unknown email, which would otherwise take twice as long.
        self._dummy_hash = hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        """An argon2id hash of `password` with a fresh salt."""
        return self.hasher.hash(password)

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when `password` matches; with no hash, spend the same time and say no."""
        if stored_hash is None:
            # Same parameters as real hashes, so an unknown email is not faster to refuse.
            stored_hash = self._dummy_hash
            self._check(stored_hash, password)
            return False
        return self._check(stored_hash, password)

    def needs_rehash(self, stored_hash: str) -> bool:
        """True when the hash was made with other (older) parameters."""
        return self.hasher.check_needs_rehash(stored_hash)

    def _check(self, stored_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(stored_hash, password)
        except InvalidHashError:
            log.error("unreadable password hash")
            return False
        except VerificationError:
            return False


@cache
def common_passwords() -> frozenset[str]:
    """The bundled list of common passwords, lower-cased."""
    text = resources.files("auth.credentials").joinpath("common_passwords.txt").read_text()
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and line[0] != "#"
    )


def password_problems(password: str, *, email: str) -> list[str]:
    """Why `password` may not be used by the account `email`; empty when it may."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"use at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        problems.append(f"use at most {MAX_LENGTH} characters")
    folded = password.strip().lower()
    if folded in common_passwords():
        problems.append("this password is too common")
    local_part = email.partition("@")[0].strip().lower()
    if folded == local_part:
        problems.append("the password must not be the email's name")
    return problems
