"""One parent process for `bazaar up`: starts every service, prefixes logs, stops them all."""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import runpy
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO

import httpx
import setproctitle

COLORS = ("36", "33", "35", "32", "34", "31")


def preload(modules: Iterable[str]) -> None:
    """Import `modules` now and freeze the heap, so forked children share those pages.

    `gc.freeze()` moves every object to a generation the collector never visits: without
    it, the first collection in each child touches every object and copies its page.
    """
    for module in modules:
        importlib.import_module(module)
    gc.collect()
    gc.freeze()


class ForkedProcess:
    """A `subprocess.Popen`-like handle on `python -m module args` run in a fork of this process.

    The child starts with every module this process imported already in memory, shared
    copy-on-write: no interpreter start, no imports, and one copy of the code for all.
    """

    def __init__(self, argv: Sequence[str], env: dict[str, str]) -> None:
        if len(argv) < 3 or argv[1] != "-m":
            raise ValueError(f"only `python -m module ...` can be forked: {argv!r}")
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns (coverage cannot see it)
            os.close(read)
            _run_child(list(argv[2:]), env, write)
        os.close(write)
        self.pid = pid
        self.args = list(argv)
        self.stdout: IO[bytes] | None = os.fdopen(read, "rb")
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The exit code once the child has exited, else None."""
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the child to exit; TimeoutExpired after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            time.sleep(0.02)
        assert self.returncode is not None  # noqa: S101 - poll() set it
        return self.returncode


def _run_child(argv: list[str], env: dict[str, str], output: int) -> None:
    """In a forked child: become `python -m argv[0] argv[1:]`, then exit."""
    code: int = 1
    try:
        os.setsid()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.close(output)
        # Fresh file objects: the parent's may hold a lock taken by one of its threads.
        sys.stdout = open(1, "w", buffering=1, encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, encoding="utf-8", closefd=False)  # noqa: SIM115
        os.environ.clear()
        os.environ.update(env)
        # prometheus-client chose its value store when the parent imported it, before
        # this child's PROMETHEUS_MULTIPROC_DIR existed; metrics created from now on use it.
        from prometheus_client import values

        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
        # `ps` and /proc/<pid>/cmdline name the command this child runs, not its parent's.
        setproctitle.setproctitle(" ".join([sys.executable, "-m", *argv]))
        sys.argv = [argv[0], *argv[1:]]
        runpy.run_module(argv[0], run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:  # whatever it was: say it, and exit non-zero
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


@dataclass
class Child:
    """A supervised process and the name its log lines carry."""

    name: str
    argv: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes] | ForkedProcess | None = None
    pump: threading.Thread | None = field(default=None, repr=False)
    restart: bool = False  # start it again when it dies (event workers), else stop all
    color: str = "0"


class Supervisor:
    """Starts children, copies their output with a name prefix, stops them together."""

    def __init__(self, out: IO[str] | None = None, *, fork: bool = False) -> None:
        self.fork = fork  # children forked from this (preloaded) process, not started anew
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
        if self.fork:
            child.process = ForkedProcess(child.argv, child.env)
        else:
            child.process = subprocess.Popen(  # noqa: S603 - argv built by us, not a shell
                child.argv,
                env=child.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        child.pump = threading.Thread(target=self._pump, args=(child, child.color), daemon=True)
        child.pump.start()

    def run(self, name: str, argv: Sequence[str], env: dict[str, str]) -> int:
        """Run a one-off child to the end, its output prefixed like the others'."""
        child = Child(name=name, argv=list(argv), env=env, color="1")
        self._width = max(self._width, len(name))
        self._spawn(child)
        assert child.process is not None and child.pump is not None  # noqa: S101
        code = child.process.wait()
        child.pump.join(timeout=5)
        return code

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
