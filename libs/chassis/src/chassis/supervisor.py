"""One parent process for `bazaar up`: starts every service, prefixes logs, stops them all."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO

import httpx

COLORS = ("36", "33", "35", "32", "34", "31")


@dataclass
class Child:
    """A supervised process and the name its log lines carry."""

    name: str
    argv: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    pump: threading.Thread | None = field(default=None, repr=False)
    restart: bool = False  # start it again when it dies (event workers), else stop all
    color: str = "0"


class Supervisor:
    """Starts children, copies their output with a name prefix, stops them together."""

    def __init__(self, out: IO[str] | None = None) -> None:
        self.children: list[Child] = []
        self.out = out or sys.stdout
        self._write_lock = threading.Lock()
        self._width = 8

    def start(
        self, name: str, argv: Sequence[str], env: dict[str, str], *, restart: bool = False
    ) -> Child:
        """Start one child in its own process group."""
        child = Child(name=name, argv=list(argv), env=env, restart=restart)
        child.color = COLORS[len(self.children) % len(COLORS)]
        self._width = max(self._width, len(name))
        self._spawn(child)
        self.children.append(child)
        return child

    def _spawn(self, child: Child) -> None:
        child.process = subprocess.Popen(  # noqa: S603 - argv built by us, not a shell
            child.argv,
            env=child.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        child.pump = threading.Thread(target=self._pump, args=(child, child.color), daemon=True)
        child.pump.start()

    def say(self, line: str) -> None:
        """Print a line of the supervisor's own."""
        self._emit("bazaar", line, "1")

    def _emit(self, name: str, line: str, color: str) -> None:
        use_color = self.out.isatty()
        prefix = f"{name:<{self._width}} |"
        if use_color:
            prefix = f"\033[{color}m{prefix}\033[0m"
        with self._write_lock:
            self.out.write(f"{prefix} {line}\n")
            self.out.flush()

    def _pump(self, child: Child, color: str) -> None:
        assert child.process is not None and child.process.stdout is not None  # noqa: S101
        with child.process.stdout as stream:  # closed at EOF, so the pipe's fd is not leaked
            for raw in stream:
                self._emit(child.name, raw.decode("utf-8", "replace").rstrip(), color)

    def wait_ready(self, url: str, timeout: float = 60.0) -> bool:
        """Poll a readiness URL until it answers 200, a child dies, or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.failed():
                return False
            try:
                if httpx.get(url, timeout=1.0).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        return False

    def failed(self) -> Child | None:
        """The first child that has exited and is not restarted, if any."""
        for child in self.children:
            if child.process is not None and child.process.poll() is not None:
                if child.restart:
                    self.say(
                        f"{child.name} exited with code {child.process.returncode}; restarting"
                    )
                    self._spawn(child)
                    continue
                return child
        return None

    def wait(self) -> int:
        """Block until a child exits or a signal arrives; return the exit code."""
        stop = threading.Event()

        def on_signal(signum: int, _: object) -> None:
            stop.set()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        while not stop.is_set():
            dead = self.failed()
            if dead is not None:
                code = dead.process.returncode if dead.process else 1
                self.say(f"{dead.name} exited with code {code}; stopping everything")
                return code or 1
            stop.wait(0.5)
        self.say("stopping")
        return 0

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM every child's process group, then SIGKILL what is left after `grace`."""
        for child in reversed(self.children):
            if child.process and child.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in self.children:
            if child.process is None:
                continue
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.process.pid, signal.SIGKILL)
                child.process.wait()
            if child.pump is not None:
                child.pump.join(timeout=2)
