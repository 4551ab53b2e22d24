"""The `bazaar up` supervisor with real child processes: output, readiness, exit and stop."""

from __future__ import annotations

import io
import os
import signal
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from chassis.supervisor import Supervisor


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


@pytest.fixture
def out() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def supervisor(out: io.StringIO) -> Iterator[Supervisor]:
    supervisor = Supervisor(out=out)
    yield supervisor
    supervisor.stop(grace=1.0)


@pytest.fixture
def ready_url() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/livez" else 503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_child_output_is_prefixed_with_its_name(supervisor: Supervisor, out: io.StringIO) -> None:
    child = supervisor.start("catalog", python("print('hello'); print('world')"), {})
    assert child.process is not None
    child.process.wait(timeout=10)
    supervisor.stop()

    assert out.getvalue().splitlines() == ["catalog  | hello", "catalog  | world"]


def test_say_prints_the_supervisors_own_lines_without_colour_off_a_tty(
    supervisor: Supervisor, out: io.StringIO
) -> None:
    supervisor.say("starting")

    assert out.getvalue() == "bazaar   | starting\n"


def test_failed_names_the_first_child_that_exited(supervisor: Supervisor) -> None:
    sleeper = supervisor.start("sleeper", python("import time; time.sleep(30)"), {})
    quitter = supervisor.start("quitter", python("raise SystemExit(3)"), {})
    assert quitter.process is not None
    quitter.process.wait(timeout=10)

    assert supervisor.failed() is quitter
    assert sleeper.process is not None and sleeper.process.poll() is None


def test_a_restartable_child_is_started_again_when_it_dies(
    supervisor: Supervisor, out: io.StringIO
) -> None:
    worker = supervisor.start("worker", python("raise SystemExit(9)"), {}, restart=True)
    assert worker.process is not None
    first = worker.process
    first.wait(timeout=10)

    assert supervisor.failed() is None
    assert worker.process is not first
    assert "worker exited with code 9; restarting" in out.getvalue()


def test_wait_returns_the_exit_code_of_a_dead_child(
    supervisor: Supervisor, out: io.StringIO
) -> None:
    previous = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    quitter = supervisor.start("quitter", python("raise SystemExit(3)"), {})
    assert quitter.process is not None
    quitter.process.wait(timeout=10)
    try:
        code = supervisor.wait()
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])

    assert code == 3
    assert "quitter exited with code 3; stopping everything" in out.getvalue()


def test_stop_terminates_running_children(supervisor: Supervisor) -> None:
    child = supervisor.start("sleeper", python("import time; time.sleep(30)"), {})

    supervisor.stop(grace=5.0)

    assert child.process is not None
    assert child.process.returncode == -signal.SIGTERM


def test_stop_kills_a_child_that_ignores_sigterm(supervisor: Supervisor, out: io.StringIO) -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(30)"
    )
    child = supervisor.start("stubborn", python(code), {})
    while "ready" not in out.getvalue():
        assert child.process is not None and child.process.poll() is None
        threading.Event().wait(0.01)

    supervisor.stop(grace=0.2)

    assert child.process is not None
    assert child.process.returncode == -signal.SIGKILL


def test_wait_ready_is_true_once_the_url_answers_200(
    supervisor: Supervisor, ready_url: str
) -> None:
    assert supervisor.wait_ready(f"{ready_url}/livez", timeout=5.0)


def test_wait_ready_gives_up_after_the_timeout(supervisor: Supervisor, ready_url: str) -> None:
    assert not supervisor.wait_ready(f"{ready_url}/not-ready", timeout=0.1)


def test_wait_ready_stops_waiting_when_a_child_died(supervisor: Supervisor, ready_url: str) -> None:
    child = supervisor.start("quitter", python("raise SystemExit(1)"), {})
    assert child.process is not None
    child.process.wait(timeout=10)

    assert not supervisor.wait_ready(f"{ready_url}/not-ready", timeout=30.0)


def test_a_forked_child_runs_a_module_with_its_own_environment_and_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "bazaar_fork_probe.py").write_text(
        "import os, sys\n"
        "print('env:', os.environ['BAZAAR_FORK_TEST'])\n"
        "print('argv:', sys.argv[1:])\n"
        "sys.exit(3)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))  # the child starts with our sys.path
    out = io.StringIO()
    supervisor = Supervisor(out, fork=True)
    argv = [sys.executable, "-m", "bazaar_fork_probe", "--flag"]
    code = supervisor.run("probe", argv, {"BAZAAR_FORK_TEST": "the child's own"})
    assert code == 3
    lines = out.getvalue().splitlines()
    assert "probe    | env: the child's own" in lines
    assert "probe    | argv: ['--flag']" in lines
    assert "BAZAAR_FORK_TEST" not in os.environ  # the parent's environment is untouched


def test_a_forked_child_exit_code_and_stop_are_reported() -> None:
    supervisor = Supervisor(io.StringIO(), fork=True)
    assert supervisor.run("fails", [sys.executable, "-m", "chassis_no_such_module"], {}) == 1
    argv = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "0"]
    child = supervisor.start("sleeper", argv, dict(os.environ))
    assert child.process is not None and child.process.poll() is None
    supervisor.stop(grace=5)
    assert child.process.poll() is not None
