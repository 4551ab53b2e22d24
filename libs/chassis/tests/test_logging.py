"""Logging: one JSON line per event, with the service name, from structlog and stdlib alike."""

from __future__ import annotations

import json
import logging

import pytest

from chassis.logging import configure_logging, get_logger


def lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().out.splitlines()


def test_structlog_events_are_json_lines_with_the_service(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(level="INFO", json=True, service="catalog")

    get_logger("test").info("order placed", order_id=7)

    (line,) = lines(capsys)
    event = json.loads(line)
    assert event["event"] == "order placed"
    assert event["order_id"] == 7
    assert event["service"] == "catalog"
    assert event["level"] == "info"
    assert event["timestamp"].endswith("Z")


def test_stdlib_records_go_through_the_same_renderer(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="INFO", json=True, service="catalog")

    logging.getLogger("some.library").warning("disk %s full", "/var")

    event = json.loads(lines(capsys)[0])
    assert event["event"] == "disk /var full"
    assert event["level"] == "warning"
    assert event["service"] == "catalog"


def test_level_filters_events(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="warning", json=True)

    get_logger("test").info("hidden")
    get_logger("test").error("shown")

    assert [json.loads(line)["event"] for line in lines(capsys)] == ["shown"]


def test_exceptions_are_rendered_into_the_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=True)

    try:
        raise ValueError("bad value")
    except ValueError:
        get_logger("test").exception("failed")

    event = json.loads(lines(capsys)[0])
    assert "ValueError: bad value" in event["exception"]


def test_console_mode_is_not_json(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=False, service="catalog")

    get_logger("test").info("hello", user="ada")

    (line,) = lines(capsys)
    assert "hello" in line and "user=ada" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_noisy_access_loggers_are_quietened() -> None:
    configure_logging(level="DEBUG")

    assert logging.getLogger("werkzeug").level == logging.WARNING
    assert logging.getLogger("httpx").level == logging.WARNING


def test_configuring_twice_keeps_one_handler(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=True)
    configure_logging(json=True)

    get_logger("test").info("once")

    assert len(lines(capsys)) == 1
