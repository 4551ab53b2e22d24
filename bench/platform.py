"""Start and stop the platform (`bazaar up`) and the hello-world ceiling; watch their processes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, TypeVar

import httpx

from chassis.cli import server_argv
from chassis.registry import ServiceSpec, discover, free_port, isolated_env
from chassis.settings import ServiceSettings, environment

REPO = Path(__file__).resolve().parent.parent
# Settings a person may tune the platform with; every other BAZAAR_ variable of the caller's
# shell is dropped, so a stray one cannot point the bench at the wrong database.
PASSED_THROUGH = ("BAZAAR_WORKERS", "BAZAAR_THREADS", "BAZAAR_SECRET_KEY")
UNLIMITED = "1000000000/minute"
S = TypeVar("S", bound=ServiceSettings)


def bench_env(data_dir: Path, backend_env: Mapping[str, str], log_level: str) -> dict[str, str]:
    """The platform's environment: free ports, its own data folder, limits out of the way."""
    inherited = {
        k: v for k, v in os.environ.items() if not k.startswith("BAZAAR_") or k in PASSED_THROUGH
    }
    return {
        **inherited,
        **isolated_env(data_dir),
        "BAZAAR_LOG_LEVEL": log_level,
        # wrk is one client on one address, the shoppers a few dozen users: measure the
        # platform, not its rate limiter (which still counts every call in its store).
        "BAZAAR_GATEWAY_RATE_LIMIT_ANONYMOUS": UNLIMITED,
        "BAZAAR_GATEWAY_RATE_LIMIT_AUTHENTICATED": UNLIMITED,
        "BAZAAR_GATEWAY_RATE_LIMIT_STRICT": (
            f'{{"POST /api/auth/token": "{UNLIMITED}", "POST /api/auth/register": "{UNLIMITED}"}}'
        ),
        "BAZAAR_AUTH_THROTTLE_AFTER": "1000000",
        **backend_env,
    }


def settings_of(cls: type[S], env: Mapping[str, str]) -> S:
    """A service's settings exactly as the platform started with `env` sees them."""
    with environment(env):
        return cls()


def service_urls(env: Mapping[str, str]) -> dict[str, str]:
    """Each service's base URL (the gateway's too), by name."""
    return {name: env[f"BAZAAR_{name.upper()}_URL"] for name in discover()}


def migrate(env: Mapping[str, str], cwd: Path) -> None:
    """Run every service's migrations (`bazaar migrate`)."""
    subprocess.run(
        [sys.executable, "-m", "chassis.cli", "migrate"],
        env=dict(env), cwd=cwd, check=True, capture_output=True,
    )  # fmt: skip


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time) of a process, None when it is gone (or a zombie)."""
    try:
        # The command name may hold spaces and parentheses: fields start after the last ')'.
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] == "Z":
        return None
    return int(fields[1]), int(fields[19])


def process_tree(root: int) -> dict[int, int]:
    """`root` and all its descendants: pid → start time (to recognise a reused pid)."""
    parents: dict[int, list[int]] = {}
    starts: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            parents.setdefault(stat[0], []).append(int(entry.name))
            starts[int(entry.name)] = stat[1]
    tree: dict[int, int] = {}
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid in starts and pid not in tree:
            tree[pid] = starts[pid]
            todo += parents.get(pid, [])
    return tree


@dataclass(frozen=True)
class Memory:
    """Memory of a set of processes, in KiB."""

    pss_kib: int
    rss_kib: int
    processes: int


def memory(pids: list[int]) -> Memory:
    """Sum of PSS (shared pages split between sharers) and RSS over the processes."""
    pss = rss = count = 0
    for pid in pids:
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue  # exited meanwhile
        count += 1
        for line in rollup.splitlines():
            name, _, rest = line.partition(":")
            if name in ("Pss", "Rss"):
                kib = int(rest.split()[0])
                pss, rss = (pss + kib, rss) if name == "Pss" else (pss, rss + kib)
    return Memory(pss, rss, count)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def worker_count(root: int, app_factory: str) -> int | None:
    """How many worker processes the server running `app_factory` under `root` has (the
    children of its master, which names the app as they do); None when it is not found."""
    tree = process_tree(root)
    parent = {pid: (_stat(pid) or (0, 0))[0] for pid in tree}
    names = {pid: _cmdline(pid) for pid in tree}
    masters = [pid for pid in tree if parent[pid] == root and app_factory in names[pid]]
    if not masters:
        return None
    workers = [pid for pid in tree if parent[pid] == masters[0] and app_factory in names[pid]]
    return len(workers) or None


def _part(cmdline: str) -> str:
    """Which part of the platform a top-level process is, from its command line."""
    words = cmdline.split()
    if words[-3:-1] == ["events", "worker"]:
        return f"{words[-1]} worker"
    for name, spec in discover().items():
        if spec.app_factory in cmdline or "serve " + name in cmdline:
            return name
    return "other"


def memory_by_part(root: int) -> dict[str, Memory]:
    """Memory of each part of a running `bazaar up` (a service with its server's workers, an
    events worker, the supervisor), keyed by name."""
    tree = process_tree(root)
    parent = {pid: (_stat(pid) or (0, 0))[0] for pid in tree}
    groups: dict[str, list[int]] = {}
    for pid in tree:
        top = pid
        while top != root and parent.get(top, root) != root:
            top = parent[top]
        groups.setdefault(_part(_cmdline(top)) if top != root else "supervisor", []).append(pid)
    return {name: memory(pids) for name, pids in groups.items()}


@dataclass
class Platform:
    """A running `bazaar up`."""

    process: subprocess.Popen[bytes]
    env: dict[str, str]
    log: Path
    log_offset: int
    started: float  # time.monotonic() at launch
    seen: dict[int, int] = field(default_factory=dict)  # every process of it ever seen

    @property
    def gateway(self) -> str:
        """The gateway's base URL."""
        return self.env["BAZAAR_GATEWAY_URL"]

    def url(self, service: str) -> str:
        """A service's own base URL (bypassing the gateway)."""
        return self.env[f"BAZAAR_{service.upper()}_URL"]

    def output(self) -> str:
        """What this start printed."""
        return self.log.read_bytes()[self.log_offset :].decode(errors="replace")

    def remember_processes(self) -> dict[int, int]:
        """The platform's processes now, also kept to kill any left behind at the end."""
        tree = process_tree(self.process.pid)
        self.seen.update(tree)
        return tree


def start(env: Mapping[str, str], cwd: Path, log: Path) -> Platform:
    """Launch `bazaar up` in its own session, appending its output to `log`."""
    cwd.mkdir(parents=True, exist_ok=True)
    offset = log.stat().st_size if log.exists() else 0
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "chassis.cli", "up"],
            env=dict(env), cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    return Platform(process, dict(env), log, offset, time.monotonic())


def _failed(platform: Platform, what: str) -> SystemExit:
    return SystemExit(f"{what}; the platform's last output:\n{platform.output()[-4000:]}")


def wait_ready(platform: Platform, timeout: float = 120.0) -> float:
    """Wait until every service's and the gateway's /readyz answer 200; seconds since launch."""
    pending = [url + "/readyz" for url in service_urls(platform.env).values()]
    deadline = platform.started + timeout
    with httpx.Client(timeout=1.0) as client:
        while pending:
            if platform.process.poll() is not None:
                raise _failed(platform, f"bazaar up exited (code {platform.process.returncode})")
            if time.monotonic() > deadline:
                raise _failed(platform, f"not ready after {timeout:.0f} s: {pending}")
            try:
                if client.get(pending[0]).status_code == 200:
                    pending.pop(0)
                    continue
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
    return time.monotonic() - platform.started


def wait_announced(platform: Platform, timeout: float = 120.0) -> None:
    """Wait until `bazaar up` has seeded and printed its URL: start-up work is over."""
    deadline = platform.started + timeout
    while "Bazaar is up" not in platform.output():
        if platform.process.poll() is not None:
            raise _failed(platform, f"bazaar up exited (code {platform.process.returncode})")
        if time.monotonic() > deadline:
            raise _failed(platform, f"no 'Bazaar is up' after {timeout:.0f} s")
        time.sleep(0.1)
    platform.remember_processes()


def alive(seen: Mapping[int, int]) -> list[int]:
    """The remembered processes still running (same pid and the same start time)."""
    return [pid for pid, started in seen.items() if (_stat(pid) or (0, -1))[1] == started]


def kill_leftovers(seen: Mapping[int, int]) -> list[int]:
    """SIGKILL each remembered process still running; their pids."""
    killed = []
    for pid in alive(seen):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    return killed


def stop(platform: Platform, timeout: float = 30.0) -> None:
    """Ctrl-C the supervisor as a person would; kill whatever it left behind."""
    if platform.process.poll() is None:
        platform.remember_processes()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(platform.process.pid, signal.SIGINT)
        try:
            platform.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(platform.process.pid, signal.SIGKILL)
            platform.process.wait()
    # Children run in sessions of their own: a supervisor that died hard leaves them.
    deadline = time.monotonic() + 10
    while alive(platform.seen) and time.monotonic() < deadline:
        time.sleep(0.2)
    leftovers = kill_leftovers(platform.seen)
    if leftovers:
        print(f"killed {len(leftovers)} platform processes left behind", file=sys.stderr)


class HelloSettings(ServiceSettings):
    """The ceiling's settings: workers and threads from the same variables as the services."""

    service_name: ClassVar[str] = "hello"


HELLO = ServiceSpec(
    name="hello", kind="wsgi", app_factory="bench.hello:create_app", settings_class=HelloSettings
)


def start_hello(env: Mapping[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The hello-world under exactly the services' server command line; (process, URL)."""
    settings = settings_of(HelloSettings, {**env, "BAZAAR_HELLO_PORT": str(free_port())})
    with log.open("ab") as out:
        process = subprocess.Popen(  # noqa: S603 - our own command line
            [sys.executable, "-m", *server_argv(HELLO, settings)],
            env=dict(env), cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    url = settings.base_url + "/"
    deadline = time.monotonic() + 30
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return process, url
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the hello-world server did not start; see {log}")
        time.sleep(0.1)


def stop_hello(process: subprocess.Popen[bytes]) -> None:
    """Stop gunicorn and its workers (one process group)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
