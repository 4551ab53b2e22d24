"""Card numbers: normalising, the Luhn check, brands and expiry, without I/O."""

from __future__ import annotations

import datetime as dt

import pytest

from payments.cards import Card, brand_of, expired, luhn_valid, normalize_number


@pytest.mark.parametrize(
    "number",
    ["4242424242424242", "4000000000000002", "5555555555554444", "378282246310005",
     "6011111111111117", "2223003122003222", "79927398713"],
)  # fmt: skip
def test_known_good_numbers_pass_luhn(number: str) -> None:
    assert luhn_valid(number)


@pytest.mark.parametrize("number", ["4242424242424241", "4000000000000001", "1234567812345678"])
def test_one_wrong_digit_fails_luhn(number: str) -> None:
    assert not luhn_valid(number)


def test_luhn_of_nothing_is_false() -> None:
    assert not luhn_valid("")


@pytest.mark.parametrize(
    ("typed", "digits"),
    [
        ("4242 4242 4242 4242", "4242424242424242"),
        ("4242-4242-4242-4242", "4242424242424242"),
        (" 4242424242424242 ", "4242424242424242"),
        ("3782 822463 10005", "378282246310005"),
    ],
)
def test_spaces_and_dashes_are_dropped(typed: str, digits: str) -> None:
    assert normalize_number(typed) == digits


@pytest.mark.parametrize(
    "typed",
    # The last in full-width digits, which str.isdigit() alone would accept.
    ["4242x4242424242424", "12345678901", "12345678901234567890", "\uff14\uff12" * 6],
)
def test_other_characters_and_lengths_are_refused_without_echo(typed: str) -> None:
    with pytest.raises(ValueError) as caught:
        normalize_number(typed)
    assert typed not in str(caught.value)


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("4242424242424242", "visa"),
        ("5105105105105100", "mastercard"),
        ("5555555555554444", "mastercard"),
        ("2221000000000009", "mastercard"),
        ("2720990000000007", "mastercard"),
        ("2220990000000008", "unknown"),
        ("2721000000000004", "unknown"),
        ("5605105105105100", "unknown"),
        ("340000000000009", "amex"),
        ("378282246310005", "amex"),
        ("6011111111111117", "unknown"),
    ],
)
def test_brand_follows_the_issuer_prefix(number: str, brand: str) -> None:
    assert brand_of(number) == brand


@pytest.mark.parametrize(
    ("month", "year", "is_expired"),
    [(5, 2026, False), (6, 2026, False), (4, 2026, True), (12, 2025, True), (1, 2027, False)],
)
def test_a_card_works_through_its_expiry_month(month: int, year: int, is_expired: bool) -> None:
    assert expired(month, year, today=dt.date(2026, 5, 31)) is is_expired


def test_card_repr_hides_number_and_cvc() -> None:
    card = Card(number="4242424242424242", exp_month=1, exp_year=2030, cvc="987")
    assert "4242424242424242" not in repr(card)
    assert "987" not in repr(card)
    assert (card.last4, card.brand) == ("4242", "visa")
