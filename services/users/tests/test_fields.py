"""Field types: what display names, emails and phone numbers accept and how they are stored."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from users.fields import DisplayName, Email, Phone


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("  Ann  ", "Ann"),
        ("Zoë Ōkubo", "Zoë Ōkubo"),
        ("👩‍💻 dev", "👩‍💻 dev"),
        ("x" * 80, "x" * 80),
    ],
)
def test_display_names_are_trimmed_single_lines(raw: str, stored: str) -> None:
    assert TypeAdapter(DisplayName).validate_python(raw) == stored


@pytest.mark.parametrize(
    "raw", ["", "   ", "x" * 81, "a\nb", "a\tb", "a\x00b", "a\x7fb", "abc\u202eexe", "a\ud800"]
)
def test_display_names_refuse_empty_long_and_control_characters(raw: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(DisplayName).validate_python(raw)


def test_emails_are_stored_lower_case() -> None:
    assert TypeAdapter(Email).validate_python(" Ann.Smith+Shop@Bazaar.TEST ") == (
        "ann.smith+shop@bazaar.test"
    )


def test_emails_take_what_auth_takes_at_sign_up() -> None:
    assert TypeAdapter(Email).validate_python("Zoë@Bücher.example") == "zoë@bücher.example"


@pytest.mark.parametrize(
    "raw",
    [
        "ann",
        "ann@",
        "@bazaar.test",
        "ann@bazaar",
        "a b@c.de",
        "a@@b.de",
        "nul\x00@b.de",
        "x" * 65 + "@b.de",
        # 131 characters, but 257 once lower-cased: the limit applies to what is stored.
        "a@" + "\u0130" * 126 + ".io",
    ],
)
def test_malformed_emails_are_refused(raw: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(Email).validate_python(raw)


@pytest.mark.parametrize("raw", ["+351 21 000 0000", "(030) 1234-567", "0123456"])
def test_phone_numbers_in_the_e164_ish_shape_are_kept(raw: str) -> None:
    assert TypeAdapter(Phone).validate_python(raw) == raw


@pytest.mark.parametrize("raw", ["12345", "+1 555 CALL", "++1234567", "1" * 21])
def test_other_phone_numbers_are_refused(raw: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(Phone).validate_python(raw)
