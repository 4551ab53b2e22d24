"""Start the real platform (`bazaar up`) in a temporary data folder on free ports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from chassis.registry import isolated_env
from chassis.testing import fresh_postgres_database


@dataclass
class Platform:
    """A running `bazaar up` and where to reach it."""

    process: subprocess.Popen[bytes]
    gateway: str
    catalog: str
    log: Path
    env: dict[str, str]

    def output(self) -> str:
        """Everything the platform printed so far."""
        return self.log.read_text(errors="replace")


def start_platform(data_dir: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Run `bazaar up` as a child process writing to `log`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "chassis.cli", "up"],
            env=env,
            cwd=data_dir,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_until_up(platform: Platform, since: int = 0, timeout: float = 90.0) -> None:
    """Wait until the supervisor prints its URL (after offset `since` of the log)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if platform.process.poll() is not None:
            raise AssertionError("bazaar up exited early:\n" + platform.output()[-5000:])
        if "Bazaar is up" in platform.output()[since:]:
            return
        time.sleep(0.25)
    raise AssertionError("bazaar up did not come up in time:\n" + platform.output()[-5000:])


def stop_platform(process: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """Ctrl-C the supervisor, as a person would, and wait for it."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
    return process.returncode


@contextmanager
def launch(root: Path, extra_env: dict[str, str] | None = None) -> Iterator[Platform]:
    """Run `bazaar up` in `root` on free ports until the block ends."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("BAZAAR_")},
        **isolated_env(root / "var"),
        "BAZAAR_WORKERS": "1",
        "BAZAAR_THREADS": "4",
        "BAZAAR_LOG_FORMAT": "console",
        **(extra_env or {}),
    }
    log = root / "platform.log"
    process = start_platform(root, env, log)
    running = Platform(process, env["BAZAAR_GATEWAY_URL"], env["BAZAAR_CATALOG_URL"], log, env)
    try:
        wait_until_up(running)
        yield running
    finally:
        stop_platform(running.process)  # a test that restarts the platform replaces it


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The whole platform on embedded defaults, seeded, for the session."""
    with launch(tmp_path_factory.mktemp("platform")) as running:
        yield running


SERVICES_WITH_DATABASES = ("catalog", "auth", "users", "orders", "payments")


@pytest.fixture(scope="session")
def real_platform(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, rabbitmq_url: str
) -> Iterator[Platform]:
    """`bazaar up` on PostgreSQL (a database per service), Redis and RabbitMQ."""
    with on_real_backends(tmp_path_factory.mktemp("real"), redis_url, rabbitmq_url) as running:
        yield running


@contextmanager
def on_real_backends(root: Path, redis_url: str, broker_url: str) -> Iterator[Platform]:
    """`bazaar up` in `root` on fresh PostgreSQL databases, Redis and the broker at `broker_url`.

    Its broker names live under a namespace of their own, so a run never meets another
    platform's messages on a shared RabbitMQ.
    """
    with ExitStack() as stack:
        env = {
            "BAZAAR_REDIS_URL": redis_url,
            "BAZAAR_BROKER_URL": broker_url,
            "BAZAAR_BROKER_NAMESPACE": "test-" + uuid.uuid4().hex[:10],
        }
        for service in SERVICES_WITH_DATABASES:
            url = stack.enter_context(fresh_postgres_database(f"bazaar_system_{service}"))
            env[f"BAZAAR_{service.upper()}_DATABASE_URL"] = url
        stack.callback(delete_broker_namespace, broker_url, env["BAZAAR_BROKER_NAMESPACE"])
        yield stack.enter_context(launch(root, env))


def delete_broker_namespace(url: str, namespace: str) -> None:
    """Remove a test platform's exchanges and queues from the shared RabbitMQ."""
    from kombu.connection import Connection

    from chassis.events.broker import Topology
    from chassis.registry import discover

    topology = Topology(namespace)
    with Connection(url, connect_timeout=5) as connection:
        channel = connection.default_channel
        for name in discover():
            for queue in (topology.service_queue(name, ()), topology.dead_queue(name)):
                queue.bind(channel).delete()
        for exchange in (topology.events_exchange, topology.dead_exchange):
            exchange.bind(channel).delete()


@pytest.fixture
def gateway(platform: Platform) -> Iterator[httpx.Client]:
    """An HTTP client pointed at the gateway."""
    with httpx.Client(base_url=platform.gateway, timeout=10.0) as client:
        yield client


@pytest.fixture(scope="session")
def admin_headers(platform: Platform) -> dict[str, str]:
    """A real admin token: `bazaar users create-admin`, then the password grant."""
    email, password = "ops-admin@bazaar.test", "a long and unusual admin passphrase 42"
    subprocess.run(
        [sys.executable, "-m", "chassis.cli", "users", "create-admin", email,
         "--password", password],
        env=platform.env, cwd=platform.log.parent, check=True, capture_output=True,
    )  # fmt: skip
    return bearer(platform, email, password)


def bearer(platform: Platform, email: str, password: str) -> dict[str, str]:
    """Log in through the gateway with the password grant; an Authorization header."""
    response = httpx.post(
        platform.gateway + "/api/auth/token",
        data={"grant_type": "password", "username": email, "password": password},
    )
    assert response.status_code == 200, response.text
    return {"Authorization": "Bearer " + response.json()["access_token"]}


@pytest.fixture(params=["embedded", "real"])
def shop(request: pytest.FixtureRequest) -> Platform:
    """The platform on each set of backends: embedded defaults, then PostgreSQL + RabbitMQ."""
    name = "platform" if request.param == "embedded" else "real_platform"
    platform: Platform = request.getfixturevalue(name)
    return platform
