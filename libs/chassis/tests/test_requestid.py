"""Request ids: which incoming ids are kept, and the context variable."""

from __future__ import annotations

import contextvars
import re

import pytest

from chassis.requestid import accept_or_generate, current_request_id, set_request_id

GENERATED = re.compile(r"^[0-9a-f]{32}$")


@pytest.mark.parametrize(
    "incoming", ["abc", "0f8e-12:ab.cd_ef", "a" * 128, "4bf92f3577b34da6a3ce929d0e0e4736"]
)
def test_a_sane_incoming_id_is_kept(incoming: str) -> None:
    assert accept_or_generate(incoming) == incoming


@pytest.mark.parametrize(
    "incoming",
    [None, "", "a" * 129, "has space", "line\nbreak", "semi;colon", "<script>", "ünïcode"],
)
def test_a_missing_or_insane_id_is_replaced_by_a_fresh_one(incoming: str | None) -> None:
    generated = accept_or_generate(incoming)

    assert GENERATED.match(generated)
    assert generated != incoming


def test_generated_ids_are_unique() -> None:
    assert len({accept_or_generate(None) for _ in range(100)}) == 100


def test_request_id_is_bound_to_the_current_context() -> None:
    def in_context() -> str | None:
        set_request_id("req-1")
        return current_request_id()

    assert contextvars.copy_context().run(in_context) == "req-1"
    assert current_request_id() is None


def test_request_id_can_be_cleared() -> None:
    def in_context() -> str | None:
        set_request_id("req-1")
        set_request_id(None)
        return current_request_id()

    assert contextvars.copy_context().run(in_context) is None
