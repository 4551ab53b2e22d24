"""Fixtures shared by the chassis tests: a clean environment and logging left as found."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import pytest
import structlog
from structlog.stdlib import ProcessorFormatter


@pytest.fixture(autouse=True)
def no_multiprocess_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    """Metrics in these tests live in this process (`clean_environment` drops `BAZAAR_*`)."""
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """`configure_logging` rewires the root logger; undo it after each test."""
    root = logging.getLogger()
    level = root.level
    yield
    root.handlers[:] = [h for h in root.handlers if not isinstance(h.formatter, ProcessorFormatter)]
    root.setLevel(level)
    structlog.reset_defaults()


@pytest.fixture
def unused_port() -> int:
    """A local TCP port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
