"""Card numbers as plain values: normalising, the Luhn check, the brand, expiry.

Pure functions with no I/O, used by the API's validation and by the sandbox processor.
A card number lives only in memory for the length of one request: nothing here logs or
stores it, and `Card` keeps it out of its `repr`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Literal

Brand = Literal["visa", "mastercard", "amex", "unknown"]

MIN_DIGITS, MAX_DIGITS = 12, 19
_SEPARATORS = re.compile(r"[ -]")


def normalize_number(raw: str) -> str:
    """The digits of a card number typed with optional spaces or dashes.

    Raises ValueError (without echoing the input) when anything else is in it or the
    length is outside 12 to 19 digits.
    """
    digits = _SEPARATORS.sub("", raw)
    if not digits.isascii() or not digits.isdigit():
        raise ValueError("a card number has only digits, spaces and dashes")
    if not MIN_DIGITS <= len(digits) <= MAX_DIGITS:
        raise ValueError(f"a card number has {MIN_DIGITS} to {MAX_DIGITS} digits")
    return digits


def luhn_valid(digits: str) -> bool:
    """True when `digits` pass the Luhn (mod 10) check every card number carries."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return bool(digits) and total % 10 == 0


def brand_of(digits: str) -> Brand:
    """The card brand its issuer prefix names."""
    if digits.startswith("4"):
        return "visa"
    if digits[:2] in ("34", "37"):
        return "amex"
    if "51" <= digits[:2] <= "55" or "2221" <= digits[:4] <= "2720":
        return "mastercard"
    return "unknown"


def expired(exp_month: int, exp_year: int, *, today: dt.date | None = None) -> bool:
    """True when the card's last valid month (cards work through their expiry month) is past."""
    today = today or dt.datetime.now(dt.UTC).date()
    return (exp_year, exp_month) < (today.year, today.month)


@dataclass(frozen=True)
class Card:
    """A card as the customer typed it: only ever handed to a processor, never kept."""

    number: str = field(repr=False)
    exp_month: int
    exp_year: int
    cvc: str = field(repr=False)

    @property
    def last4(self) -> str:
        """The last four digits, the only part of the number anyone may keep."""
        return self.number[-4:]

    @property
    def brand(self) -> Brand:
        """The brand its prefix names."""
        return brand_of(self.number)
