"""Shared schema building blocks: database-safe text and integers, strict bodies, lax queries."""

from __future__ import annotations

import re

import pytest
from pydantic import TypeAdapter, ValidationError

from chassis.schemas import (
    EMAIL_DOCUMENTED_PATTERN,
    LINE_PATTERN,
    TEXT_PATTERN,
    Email,
    Int32,
    Line,
    Model,
    Query,
    Text,
)


class Body(Model):
    name: Text
    count: Int32 = 0


class Filters(Query):
    q: Text = ""


@pytest.mark.parametrize("value", ["plain", "tabs\tand\nnewlines\r", "ünïcödé ✓"])
def test_text_accepts_ordinary_characters(value: str) -> None:
    assert Body(name=value).name == value


@pytest.mark.parametrize("value", ["nul\x00byte", "bell\x07", "escape\x1b[0m", "del\x7f"])
def test_text_refuses_control_characters(value: str) -> None:
    with pytest.raises(ValidationError, match="control characters"):
        Body(name=value)


@pytest.mark.parametrize("count", [-(2**31), 0, 2**31 - 1])
def test_int32_accepts_the_postgresql_integer_range(count: int) -> None:
    assert Body(name="x", count=count).count == count


@pytest.mark.parametrize("count", [-(2**31) - 1, 2**31])
def test_int32_refuses_values_outside_the_postgresql_integer_range(count: int) -> None:
    with pytest.raises(ValidationError):
        Body(name="x", count=count)


def test_bodies_refuse_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="extra"):
        Body.model_validate({"name": "x", "admin": True})


def test_queries_ignore_unknown_parameters() -> None:
    assert Filters.model_validate({"q": "lamp", "utm_source": "mail"}).model_dump() == {"q": "lamp"}


class Contact(Model):
    email: Email
    name: Line


def test_email_is_trimmed_and_lower_cased_before_it_is_checked() -> None:
    contact = Contact(email="  Ann@Example.COM ", name="  Ann  ")
    assert (contact.email, contact.name) == ("ann@example.com", "Ann")


@pytest.mark.parametrize(
    "email", ["no-at-sign", "two@@example.com", "ann@nodot", "a b@example.com", "a\x07@example.com"]
)
def test_email_refuses_what_is_not_shaped_like_one(email: str) -> None:
    with pytest.raises(ValidationError):
        Contact(email=email, name="Ann")


@pytest.mark.parametrize(
    "name", ["", "   ", "two\nlines", "tab\tname", "rtl\u202eoverride", "\ud800"]
)
def test_line_refuses_empty_and_multi_line_and_control_characters(name: str) -> None:
    with pytest.raises(ValidationError):
        Contact(email="ann@example.com", name=name)


def test_the_email_pattern_is_in_the_json_schema() -> None:
    pattern = Contact.model_json_schema()["properties"]["email"]["pattern"]
    assert pattern == EMAIL_DOCUMENTED_PATTERN
    assert re.fullmatch(pattern, "ann@example.com")


@pytest.mark.parametrize(
    "name", ["Ann", " Ann ", "Zoë Ørsted", "x", "\U0001f600 smile", "", "   ", "two\nlines",
             "tab\tname", "rtl\u202eoverride", "c1\x85control", "del\x7f"],
)  # fmt: skip
def test_the_documented_line_pattern_says_what_the_validator_does(name: str) -> None:
    try:
        Contact(email="ann@example.com", name=name)
        accepted = True
    except ValidationError:
        accepted = False
    assert bool(re.fullmatch(LINE_PATTERN, name)) == accepted


@pytest.mark.parametrize(
    "text", ["plain", "two\nlines\r\n", "tab\t", "", "nul\x00", "bell\x07", "del\x7f"]
)
def test_the_documented_text_pattern_says_what_the_validator_does(text: str) -> None:
    try:
        TypeAdapter(Text).validate_python(text)
        accepted = True
    except ValidationError:
        accepted = False
    assert bool(re.fullmatch(TEXT_PATTERN, text)) == accepted
