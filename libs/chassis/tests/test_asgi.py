"""The ASGI adapter's request line: the same JSON line as any structlog event, for less."""

from __future__ import annotations

import json

import pytest

from chassis.asgi import AccessLog
from chassis.logging import configure_logging, get_logger

FIELDS = {
    "method": "GET",
    "path": "/api/catalog/products",
    "status": 200,
    "duration_ms": 0.42,
    "request_id": "0123456789abcdef",
}


def test_the_request_line_is_the_line_structlog_writes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(level="INFO", json=True, service="gateway")

    get_logger("chassis.asgi").info("request", **FIELDS)
    AccessLog()(**FIELDS)

    slow, fast = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert slow.pop("timestamp").endswith("Z")
    assert fast.pop("timestamp").endswith("Z")
    assert list(fast.items()) == list(slow.items())  # same fields, same order


def test_the_request_line_follows_the_level_and_a_new_configuration(
    capsys: pytest.CaptureFixture[str],
) -> None:
    access_log = AccessLog()
    configure_logging(level="WARNING", json=True, service="gateway")
    access_log(**FIELDS)
    assert capsys.readouterr().out == ""

    configure_logging(level="INFO", json=False, service="gateway")
    access_log(**FIELDS)
    (line,) = capsys.readouterr().out.splitlines()
    assert "GET /api/catalog/products" in line and "id=01234567" in line  # the console renderer


def test_inside_an_event_loop_lines_are_flushed_once_per_turn(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import asyncio
    import logging

    configure_logging(level="INFO", json=True, service="gateway")
    stream = logging.getLogger().handlers[0].stream  # type: ignore[attr-defined]
    flushes: list[int] = []
    original = stream.flush
    stream.flush = lambda: (flushes.append(1), original())[1]
    access_log = AccessLog()

    async def requests_finishing_in_one_turn() -> int:
        for _ in range(3):
            access_log(**FIELDS)
        before = len(flushes)
        await asyncio.sleep(0)
        return before

    try:
        flushed_before_the_turn_ended = asyncio.run(requests_finishing_in_one_turn())
    finally:
        stream.flush = original
    assert flushed_before_the_turn_ended == 0
    assert len(flushes) == 1
    assert len(capsys.readouterr().out.splitlines()) == 3
