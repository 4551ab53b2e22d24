"""`bazaar up` in a terminal: short coloured lines a person reads, and no warnings."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from chassis.registry import isolated_env

ANSI = re.compile(r"\x1b\[[0-9;]*m")
# The entry point a person types, next to this interpreter: the warnings came from it.
BAZAAR = Path(sys.executable).with_name("bazaar")


def read_until(fd: int, seen: bytearray, marker: bytes, timeout: float) -> bool:
    """Read the terminal into `seen` until `marker` appears or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if marker in seen:
            return True
        ready, _, _ = select.select([fd], [], [], 0.25)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:  # the terminal closed: the platform exited
                return marker in seen
    return marker in seen


def test_bazaar_up_on_a_terminal_prints_readable_lines_and_no_warnings(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("BAZAAR_")},
        **isolated_env(tmp_path / "var"),
        "BAZAAR_WORKERS": "1",
        "BAZAAR_THREADS": "2",
    }
    env.pop("NO_COLOR", None)
    env.pop("PYTHONWARNINGS", None)
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [str(BAZAAR), "up"],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=env,
        cwd=tmp_path,
        start_new_session=True,
    )
    os.close(terminal)
    seen = bytearray()
    try:
        assert read_until(controller, seen, b"Bazaar is up", 120), seen.decode(errors="replace")
        gateway = env["BAZAAR_GATEWAY_URL"]
        assert httpx.get(gateway + "/api/catalog/products?limit=1").status_code == 200
        read_until(controller, seen, b"GET /api/catalog/products 200", 10)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(30)
        read_until(controller, seen, b"\0never", 1)
        os.close(controller)
    raw = seen.decode(errors="replace")
    text = ANSI.sub("", raw)
    assert "\x1b[" in raw, "a terminal gets colours"
    assert "Warning" not in text, text
    lines = [line.partition("|")[2].strip() for line in text.splitlines()]
    # Time, level, method, path, status, duration, the request id cut short.
    request_line = re.compile(r"^\d\d:\d\d:\d\d INFO +GET /api/catalog/products 200 [\d.]+ms")
    assert any(request_line.match(line) for line in lines), text
    worker_line = re.compile(r"^\d\d:\d\d:\d\d INFO +events worker started")
    assert any(worker_line.match(line) for line in lines), text
    assert not [line for line in lines if line.startswith("{")], "no JSON on a terminal"
