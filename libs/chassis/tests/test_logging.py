"""Logging: one JSON line per event, with the service name, from structlog and stdlib alike."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from chassis.logging import LogFormat, configure_logging, get_logger, wants_color, wants_json


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


def test_console_request_lines_lead_with_method_path_status_and_duration(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(json=False, service="catalog", colors=False)

    get_logger("test").info(
        "request", method="GET", path="/products", status=200, duration_ms=3.5,
        request_id="1bb5ea80c0ffee", handles=["a", "b"],
    )  # fmt: skip

    (line,) = lines(capsys)
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d INFO  GET /products 200 3.5ms handles=a,b id=1bb5ea80", line
    )


def test_console_colours_only_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=False, colors=True)
    get_logger("test").warning("disk full")
    configure_logging(json=False, colors=False)
    get_logger("test").warning("disk full")

    coloured, plain = lines(capsys)
    assert "\x1b[33mWARNING\x1b[0m" in coloured or "\x1b[33mWARN" in coloured
    assert "\x1b[" not in plain


class Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    ("log_format", "production", "tty", "expected"),
    [
        ("auto", False, True, False),  # a person at a terminal
        ("auto", False, False, True),  # a pipe, a file, a log collector
        ("auto", True, True, True),  # production stays JSON even on a terminal
        ("console", True, False, False),
        ("json", False, True, True),
    ],
)
def test_json_unless_a_terminal_outside_production_or_asked(
    log_format: LogFormat, production: bool, tty: bool, expected: bool
) -> None:
    assert wants_json(log_format, production=production, stream=Stream(tty)) is expected


def test_no_color_wins_over_force_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert wants_color(Stream(False))
    monkeypatch.setenv("NO_COLOR", "1")
    assert not wants_color(Stream(True))
