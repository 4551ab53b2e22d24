"""Password hashing parameters and the rules for new passwords."""

from __future__ import annotations

import re

import pytest

from auth.credentials.passwords import (
    Passwords,
    common_passwords,
    password_hasher,
    password_problems,
)
from auth.settings import AuthSettings
from chassis.settings import UnsafeConfiguration

ARGON2_PREFIX = re.compile(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$")


def test_production_parameters_hash_with_owasp_argon2id_or_stronger() -> None:
    stored = password_hasher(AuthSettings()).hash("a long enough passphrase")

    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    match = ARGON2_PREFIX.match(stored)
    assert match is not None
    memory, time_cost, lanes = map(int, match.groups())
    assert memory >= 19456 and time_cost >= 2 and lanes == 1


def test_production_refuses_weaker_argon2_parameters() -> None:
    production = {
        "env": "production",
        "secret_key": "x" * 40,
        "jwks_url": "http://a/jwks",
        "public_origin": "https://shop.bazaar.test",
    }
    with pytest.raises(UnsafeConfiguration, match="argon2id"):
        AuthSettings(**production, argon2_memory_kib=64)
    with pytest.raises(UnsafeConfiguration, match="argon2id"):
        AuthSettings(**production, argon2_time_cost=1)
    assert AuthSettings(**production).argon2_memory_kib == 19456


def test_verify_accepts_the_password_and_refuses_others() -> None:
    passwords = Passwords(password_hasher(AuthSettings(argon2_memory_kib=64, argon2_time_cost=1)))
    stored = passwords.hash("a long enough passphrase")

    assert passwords.verify(stored, "a long enough passphrase")
    assert not passwords.verify(stored, "a long enough passphrasE")
    assert not passwords.verify(None, "a long enough passphrase")
    assert not passwords.verify("not a hash", "a long enough passphrase")


def test_hashes_made_with_weaker_parameters_need_rehash() -> None:
    weak = Passwords(password_hasher(AuthSettings(argon2_memory_kib=64, argon2_time_cost=1)))
    strong = Passwords(password_hasher(AuthSettings(argon2_memory_kib=128, argon2_time_cost=2)))

    assert strong.needs_rehash(weak.hash("whatever it is"))
    assert not strong.needs_rehash(strong.hash("whatever it is"))


def test_bundled_list_has_thousands_of_long_common_passwords() -> None:
    common = common_passwords()

    assert len(common) > 3000
    assert {"password1234", "qwertyuiop123", "123456789012", "iloveyou1234"} <= common
    assert all(len(p) >= 12 for p in common)


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short", "at least 12"),
        ("x" * 129, "at most 128"),
        ("Password1234", "too common"),
        ("  QWERTYUIOP123 ", "too common"),
        ("Ann.Example-1", "email's name"),
    ],
)
def test_weak_passwords_are_explained(password: str, reason: str) -> None:
    problems = password_problems(password, email="ann.example-1@example.com")
    assert any(reason in problem for problem in problems), problems


def test_a_long_uncommon_password_passes() -> None:
    assert password_problems("correct horse battery staple", email="ann@example.com") == []
