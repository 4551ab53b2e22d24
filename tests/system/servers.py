"""Private PostgreSQL and RabbitMQ servers, for tests that restart or stop what they use.

The machine's shared servers serve other test runs too and must never be restarted: a fault
is injected into a server of the test's own, on a free port, with its data in a temporary
folder. (Redis has one already: `chassis.testing.PrivateRedis`.)
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import uuid
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from chassis.registry import free_port
from chassis.testing import backend_missing

# PostgreSQL refuses to run as root; a root test run starts it as this account.
POSTGRES_ACCOUNT = "postgres"


def _postgres_bin() -> Path:
    """The newest installed PostgreSQL server's bin folder (Debian layout, else PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_version)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    if on_path is None:
        backend_missing("PostgreSQL's pg_ctl", "Install postgresql (initdb, pg_ctl).")
    return Path(on_path).parent


def _version(path: str) -> int:
    digits = Path(path).parent.parent.name
    return int(digits) if digits.isdigit() else 0


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own: initdb in a temporary folder, trust, no fsync."""

    def __init__(self) -> None:
        self.bin = _postgres_bin()
        self.port = free_port()
        # Not under pytest's temporary folder: a root run starts the server as another
        # account, which could not enter it.
        self.root = Path(tempfile.mkdtemp(prefix="bazaar-postgres-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self._as: list[str] = []
        if os.geteuid() == 0:
            account = pwd.getpwnam(POSTGRES_ACCOUNT)
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self._as = ["runuser", "-u", POSTGRES_ACCOUNT, "--"]

    def _run(self, tool: str, *args: str, timeout: float = 60) -> None:
        subprocess.run(
            [*self._as, str(self.bin / tool), *args],
            check=True, capture_output=True, timeout=timeout,
        )  # fmt: skip

    def create(self) -> None:
        """initdb, then start."""
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--no-sync")  # fmt: skip
        self.start()

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = " ".join([
            f"-p {self.port}", f"-k {self.root}", "-c listen_addresses=127.0.0.1",
            "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off",
            "-c max_connections=200",
        ])  # fmt: skip
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                  "-o", options, "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: `fast` ends every session (a restart), `immediate` is a crash."""
        self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "60", "-m", mode, "stop")

    def database(self, prefix: str) -> str:
        """Create an empty database; its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(self.url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            with admin.connect() as connection:
                connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
        return sa.make_url(self.url).set(database=name).render_as_string(hide_password=False)

    def destroy(self) -> None:
        """Stop the server (if running) and delete its folder."""
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def _rabbitmq_tool(name: str) -> str:
    """A RabbitMQ script, unwrapped: Debian's /usr/sbin wrapper would switch accounts (and
    so the Erlang cookie's home)."""
    direct = Path("/usr/lib/rabbitmq/bin") / name
    if direct.exists():
        return str(direct)
    on_path = shutil.which(name)
    if on_path is None:
        backend_missing(f"RabbitMQ's {name}", "Install rabbitmq-server.")
    return on_path


class PrivateRabbitMQ:
    """A RabbitMQ node of the test's own: its name, ports, data, logs and cookie."""

    def __init__(self) -> None:
        self.server = _rabbitmq_tool("rabbitmq-server")
        self.ctl = _rabbitmq_tool("rabbitmqctl")
        self.root = Path(tempfile.mkdtemp(prefix="bazaar-rabbitmq-"))
        self.node = f"bazaar-{uuid.uuid4().hex[:8]}@localhost"
        self.port = free_port()
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}//"
        (self.root / "enabled_plugins").write_text("[].\n")
        (self.root / "rabbitmq-env.conf").write_text("")  # not the machine's node settings
        (self.root / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\nloopback_users = none\n"
        )
        self.env = {
            **os.environ,
            "HOME": str(self.root),  # its own Erlang cookie, for the server and rabbitmqctl
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.root / "log"),
            "RABBITMQ_PID_FILE": str(self.root / "rabbitmq.pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": str(self.root / "rabbitmq-env.conf"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }
        self._process: subprocess.Popen[bytes] | None = None

    def rabbitmqctl(self, *args: str, timeout: float = 90) -> None:
        """Run rabbitmqctl against this node."""
        subprocess.run([self.ctl, "-n", self.node, *args], env=self.env, check=True,
                       capture_output=True, timeout=timeout)  # fmt: skip

    def start(self) -> None:
        """Boot the node and wait until its applications run."""
        with (self.root / "server.log").open("ab") as out:
            self._process = subprocess.Popen(
                [self.server], env=self.env, cwd=self.root, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.rabbitmqctl("wait", "--timeout", "90", str(self.root / "rabbitmq.pid"))

    def stop_app(self) -> None:
        """Stop the broker (the Erlang node stays): every connection is closed."""
        self.rabbitmqctl("stop_app")

    def start_app(self) -> None:
        """Start the broker again and wait until it serves."""
        self.rabbitmqctl("start_app")
        self.rabbitmqctl("await_startup")

    def destroy(self) -> None:
        """Shut the node down and delete its folder."""
        if self._process is not None:
            with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
                self.rabbitmqctl("shutdown", timeout=30)
            if self._process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)
