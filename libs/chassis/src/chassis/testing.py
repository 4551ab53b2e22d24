"""pytest helpers every service uses: backends, a token minter, rolled-back transactions.

Loaded as a plugin (`-p chassis.testing` in the root pytest options).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NoReturn

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.pool import NullPool

from chassis.auth import ACCESS_TOKEN_TYPE
from chassis.registry import free_port


class JsonHandler(BaseHTTPRequestHandler):
    """Base of a stand-in service's request handler: JSON replies, no access log."""

    protocol_version = "HTTP/1.1"

    def reply(self, status: int, body: Any) -> None:
        """Answer with `body` as JSON (no body when None)."""
        payload = b"" if body is None else json.dumps(body).encode()
        with suppress(BrokenPipeError, ConnectionResetError):  # the client gave up
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read their own records, not an access log."""


class ThreadedServer:
    """A real HTTP server on a free local port, serving from a daemon thread."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """Its base URL."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


POSTGRES_ENV = "BAZAAR_TEST_POSTGRES_URL"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def in_ci() -> bool:
    """True on CI, where a missing backend fails the run instead of skipping."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def backend_missing(what: str, how: str) -> NoReturn:
    """Fail on CI, skip elsewhere, saying how to enable the tests."""
    message = f"{what} is not reachable. {how}"
    if in_ci():
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message)


class TokenMinter:
    """Signs access tokens the way the auth service does, with a key made for the tests."""

    def __init__(self, issuer: str = "bazaar-auth", audience: str = "bazaar") -> None:
        self.issuer = issuer
        self.audience = audience
        self.kid = "test-" + uuid.uuid4().hex[:8]
        self._key = Ed25519PrivateKey.generate()
        self.public_pem = (
            self._key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def mint(
        self,
        subject: str = "user-1",
        *,
        roles: tuple[str, ...] = (),
        scopes: tuple[str, ...] = (),
        ttl: int = 900,
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """A signed access token; override any claim or header to test rejections."""
        now = int(time.time())
        payload = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "iat": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
            "roles": list(roles),
            "scope": " ".join(scopes),
            **claims,
        }
        header = {"kid": self.kid, "typ": ACCESS_TOKEN_TYPE, **(headers or {})}
        return jwt.encode(payload, self._key, algorithm="EdDSA", headers=header)

    def auth(self, subject: str = "user-1", **kwargs: Any) -> dict[str, str]:
        """An Authorization header for `mint(...)`."""
        return {"Authorization": "Bearer " + self.mint(subject, **kwargs)}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No `BAZAAR_*` setting from the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("BAZAAR_") and not name.startswith("BAZAAR_TEST_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def token_minter() -> TokenMinter:
    """One signing key for the whole test session."""
    return TokenMinter()


@contextmanager
def fresh_postgres_database(prefix: str = "bazaar_test") -> Iterator[str]:
    """Create an empty PostgreSQL database, yield its URL, drop it afterwards."""
    base = os.environ.get(POSTGRES_ENV, DEFAULT_POSTGRES)
    # No pool: an idle admin connection per database would stay open for the whole test,
    # and a test that runs whole platforms needs every connection PostgreSQL allows.
    admin = create_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:
        admin.dispose()
        backend_missing(
            f"PostgreSQL at {make_url(base).render_as_string(hide_password=True)}",
            f"Start it or set {POSTGRES_ENV} to run these tests.",
        )
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """An empty database on each backend: the same tests run on SQLite and PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        return
    with fresh_postgres_database() as url:
        yield url


@contextmanager
def rolled_back(app: Flask) -> Iterator[None]:
    """Run everything the app does inside one transaction that is rolled back at the end."""
    db = app.extensions["bazaar"].db
    connection = db.engine.connect()
    transaction = connection.begin()
    db.bind_to(connection)
    try:
        yield
    finally:
        transaction.rollback()
        connection.close()
        db.dispose()


# Statements that only open or close a transaction: how many there are depends on the
# backend's driver (psycopg sends BEGIN itself) and on the tests' savepoints, not the code.
_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "END")


@dataclass
class QueryCounter:
    """The SQL statements run while counting, transaction control left out."""

    statements: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        """How many statements ran."""
        return len(self.statements)

    def report(self) -> str:
        """The statements, one a line, for an assertion's message."""
        return "\n".join(f"{i}. {sql}" for i, sql in enumerate(self.statements, 1))


@contextmanager
def count_queries(engine: Engine) -> Iterator[QueryCounter]:
    """Count the statements `engine` runs in the block: a query budget a test asserts."""
    counter = QueryCounter()

    def before_cursor_execute(*args: Any) -> None:
        statement = " ".join(str(args[2]).split())
        if not statement.upper().startswith(_TRANSACTION_CONTROL):
            counter.statements.append(statement)

    event.listen(engine, "before_cursor_execute", before_cursor_execute)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", before_cursor_execute)


class TransactionWatch:
    """Which ORM sessions hold a database transaction right now, in any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: set[int] = set()

    @property
    def open(self) -> bool:
        """True while some session has begun a transaction and not ended it."""
        with self._lock:
            return bool(self._open)

    def _began(self, _: Session, transaction: SessionTransaction, __: Any) -> None:
        with self._lock:
            self._open.add(id(transaction))

    def _ended(self, _: Session, transaction: SessionTransaction) -> None:
        with self._lock:
            self._open.discard(id(transaction))


@contextmanager
def watch_transactions() -> Iterator[TransactionWatch]:
    """Track open session transactions in the block (to prove no remote call waits in one)."""
    watch = TransactionWatch()
    event.listen(Session, "after_begin", watch._began)
    event.listen(Session, "after_transaction_end", watch._ended)
    try:
        yield watch
    finally:
        event.remove(Session, "after_begin", watch._began)
        event.remove(Session, "after_transaction_end", watch._ended)


def fuzz_openapi(
    schema: Any,
    *,
    headers: dict[str, str] | None = None,
    max_examples: int = 25,
    base_url: str | None = None,
) -> int:
    """Fuzz every operation of a schemathesis schema, valid and invalid inputs alike.

    Checks: no 5xx, and responses (status, content type, headers, body) match the
    document. Returns how many operations were exercised. pytest 9 broke
    schemathesis' own fixture integration, hence this loop.
    """
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.specs.openapi import checks as openapi_checks

    if headers and any(k.lower() == "authorization" for k in headers):
        # The token comes from `headers`: a case generated "without" credentials would still
        # carry it, and its success would look like a failed negative test.
        schema.config.generation.update(with_security_parameters=False)
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=max_examples,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Any) -> None:
                kwargs: dict[str, Any] = {"headers": headers or {}}
                if base_url:
                    kwargs["base_url"] = base_url
                # A valid request may still meet a 404 or 409 in a live database.
                case.call_and_validate(
                    excluded_checks=[openapi_checks.positive_data_acceptance], **kwargs
                )

            try:
                run()
            except Unsatisfiable:
                # An operation without inputs has nothing to make invalid.
                if mode is not GenerationMode.NEGATIVE:
                    raise
    return operations


REDIS_ENV = "BAZAAR_TEST_REDIS_URL"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A real Redis database for the tests (db 15 unless BAZAAR_TEST_REDIS_URL says otherwise).

    Its revocation list is marked filled, as auth does when it starts: without the marker
    every verifier would answer 503 (chassis.revocation).
    """
    import redis

    from chassis.revocation import FILLED_KEY

    url = os.environ.get(REDIS_ENV, DEFAULT_REDIS)
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
        client.set(FILLED_KEY, b"tests")
    except redis.RedisError:
        backend_missing(f"Redis at {url}", f"Start it or set {REDIS_ENV} to run these tests.")
    finally:
        client.close()
    return url


class PrivateRedis:
    """A redis-server of the test's own, so a test may stop and restart it (an outage)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server and wait until it answers."""
        import redis

        binary = shutil.which("redis-server")
        if binary is None:
            backend_missing("redis-server", "Install Redis (apt-get install redis-server).")
        self._process = subprocess.Popen(  # noqa: S603
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
            finally:
                client.close()

    def stop(self) -> None:
        """Kill the server (no clean shutdown: an outage, not maintenance)."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(10)
            self._process = None


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A running redis-server on a free port, killed after the test."""
    server = PrivateRedis(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def frozen_address() -> Iterator[tuple[str, int]]:
    """A stand-in for a frozen server (SIGSTOP): the kernel accepts connections, nobody answers."""
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        host, port = listener.getsockname()
        yield str(host), int(port)


def _postgres_version(path: str) -> int:
    """The major version in a Debian PostgreSQL path (/usr/lib/postgresql/<major>/bin/...)."""
    major = os.path.basename(os.path.dirname(os.path.dirname(path)))
    return int(major) if major.isdigit() else 0


class PrivatePostgres:
    """A PostgreSQL server of the test's own (initdb + pg_ctl), so a test may stop and restart it.

    The shared server is never touched; this one lives in a temporary directory on a free port
    (not under pytest's temporary folder: as root (a container) the server runs as the
    `postgres` user, since PostgreSQL refuses root, and could not enter it).
    """

    def __init__(self, port: int | None = None, *, max_connections: int = 60) -> None:
        self.port = port or free_port()
        self.max_connections = max_connections
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self._dir: str | None = None

    @staticmethod
    def _binary(name: str) -> str:
        # Newest first by major version: a plain sort would put 9 after 16.
        found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_postgres_version)
        binary = found[-1] if found else shutil.which(name)
        if binary is None:
            backend_missing(name, "Install PostgreSQL's server (apt-get install postgresql).")
        return binary

    def _run(self, *args: str) -> None:
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(  # noqa: S603
            [*as_postgres, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            timeout=120,
        )  # fmt: skip

    @property
    def running(self) -> bool:
        """Whether the server was started and not stopped since."""
        return self._dir is not None and os.path.exists(os.path.join(self._dir, "postmaster.pid"))

    @property
    def log(self) -> str | None:
        """The server's log file, once it has been started."""
        return None if self._dir is None else os.path.join(self._dir, "server.log")

    def start(self) -> None:
        """Create the cluster the first time, then start the server and wait until it answers."""
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="bazaar-pg-")
            if os.geteuid() == 0:
                shutil.chown(self._dir, "postgres", "postgres")
            self._run(self._binary("initdb"), "-D", self._dir, "-U", "postgres",
                      "--auth=trust", "--no-sync", "-E", "UTF8")  # fmt: skip
        # fsync off only: an immediate stop (a crash) must keep every commit, which
        # synchronous_commit=off would not (its last WAL is still in the server's memory).
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self._dir} -c fsync=off"
            f" -c shared_buffers=16MB -c max_connections={self.max_connections}"
        )
        self._run(self._binary("pg_ctl"), "-D", self._dir, "-l", str(self.log), "-o", options,
                  "-w", "-t", "60", "-s", "start")  # fmt: skip

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server: `immediate` as a crash does, `fast` as a restart does."""
        # immediate: clients cut off, no clean shutdown (a crash or a failover); fast: every
        # session ends and transactions in flight abort.
        if self._dir is not None and self.running:
            self._run(self._binary("pg_ctl"), "-D", self._dir, "-m", mode, "-w", "-t", "60",
                      "-s", "stop")  # fmt: skip

    def new_database(self, prefix: str = "bazaar_test") -> str:
        """Create an empty database on this server; its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        admin = create_engine(self.url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
        return make_url(self.url).set(database=name).render_as_string(hide_password=False)

    def remove(self) -> None:
        """Stop the server and delete its files."""
        with suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self.stop()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


@pytest.fixture(scope="session")
def _private_postgres_server() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres(free_port())
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def private_postgres(_private_postgres_server: PrivatePostgres) -> Iterator[PrivatePostgres]:
    """A running private PostgreSQL (one per test session); started again if a test stopped it."""
    if not _private_postgres_server.running:
        _private_postgres_server.start()
    yield _private_postgres_server
    if not _private_postgres_server.running:
        _private_postgres_server.start()


def table_names(url: str) -> set[str]:
    """The tables a database has now."""
    from sqlalchemy import inspect

    from chassis.db import create_db_engine

    engine = create_db_engine(url, pooled=False)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def assert_migrations_round_trip(
    scripts: Any,
    url: str,
    metadata: Any,
    tables: set[str],
    *,
    ignore: frozenset[str] | set[str] = frozenset(),
) -> None:
    """Upgrade, compare with the models, downgrade to nothing, upgrade again.

    `ignore` names columns or indexes only one dialect has (kept out of the models).
    """
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from chassis import migrations
    from chassis.db import create_db_engine

    def differences() -> list[Any]:
        engine = create_db_engine(url, pooled=False)
        try:
            with engine.connect() as connection:
                context = MigrationContext.configure(
                    connection,
                    opts={
                        "compare_type": True,
                        "include_name": lambda name, _kind, _parents: name not in ignore,
                    },
                )
                return list(compare_metadata(context, metadata))
        finally:
            engine.dispose()

    migrations.upgrade(scripts, url)
    assert {*tables, "alembic_version"} <= table_names(url)  # noqa: S101 - a test helper
    assert differences() == []  # noqa: S101
    migrations.downgrade(scripts, url, "base")
    assert table_names(url) <= {"alembic_version"}  # noqa: S101
    migrations.upgrade(scripts, url)
    assert differences() == []  # noqa: S101


# -- fixtures for a Flask service: its conftest only says which service it is -----------
#
#     @pytest.fixture(scope="session")
#     def service_spec() -> ServiceSpec:
#         return SERVICE
#
# and gets `migrated_url`, `settings`, `app`, `client` and `session`; any of them can be
# overridden in the conftest (auth's app, say, needs a users stand-in).

PROBLEM_MEDIA_TYPE = "application/problem+json"


@pytest.fixture(scope="session")
def migrated_url(database_url: str, service_spec: Any) -> str:
    """The session's database, migrated to head once."""
    from chassis import migrations

    if service_spec.migrations is not None:
        migrations.upgrade(service_spec.migrations, database_url)
    return database_url


@pytest.fixture
def settings(migrated_url: str, token_minter: TokenMinter, service_spec: Any) -> Any:
    """Settings pointing at the test database and trusting the test token minter.

    Response caches are off: tests write rows straight into a transaction that is rolled
    back, which no cache would hear of. Cache tests build their own settings.
    """
    return service_spec.settings_class(
        env="test",
        database_url=migrated_url,
        jwt_public_key=token_minter.public_pem,
        cache_enabled=False,
    )


@pytest.fixture
def app(settings: Any, service_spec: Any) -> Iterator[Any]:
    """The service's app; everything it writes is rolled back after the test."""
    import importlib

    module, _, factory = service_spec.app_factory.partition(":")
    application = getattr(importlib.import_module(module), factory)(settings)
    with rolled_back(application):
        yield application


@pytest.fixture
def client(app: Any) -> Any:
    """A test client for the app."""
    return app.test_client()


@pytest.fixture
def rpc_channel(app: Any, service_spec: Any) -> Iterator[Any]:
    """A channel to the service's gRPC server, started in-process beside `app` (same database)."""
    import importlib

    import grpc

    from chassis.rpc.server import serve_app

    module, _, function = service_spec.rpc.partition(":")
    server = serve_app(
        app, getattr(importlib.import_module(module), function), address="127.0.0.1:0", threads=4
    )
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        yield channel
    finally:
        channel.close()
        server.stop(0)


@pytest.fixture
def session(app: Any) -> Iterator[Any]:
    """A session on the test transaction, for factories and checks."""
    db_session = app.extensions["bazaar"].db.session_factory()
    yield db_session
    db_session.close()


@pytest.fixture
def app_on_private_postgres(
    private_postgres: PrivatePostgres, token_minter: TokenMinter, service_spec: Any
) -> Iterator[Any]:
    """The service's app on a migrated database of a private server, which the test may stop."""
    import importlib

    from chassis import migrations

    url = private_postgres.new_database()
    if service_spec.migrations is not None:
        migrations.upgrade(service_spec.migrations, url)
    settings = service_spec.settings_class(
        env="test", database_url=url, jwt_public_key=token_minter.public_pem, cache_enabled=False
    )
    module, _, factory = service_spec.app_factory.partition(":")
    application = getattr(importlib.import_module(module), factory)(settings)
    yield application
    application.extensions["bazaar"].db.dispose()


def assert_database_unavailable(response: Any) -> None:
    """Assert the 503 a service answers while its database is out of reach."""
    problem_of(response, 503, "database-unavailable")
    assert int(response.headers["Retry-After"]) >= 1  # noqa: S101


def assert_database_outage_survived(
    server: PrivatePostgres, call: Callable[[], Any], *, status: int
) -> None:
    """`call` answers `status`, is a 503 while `server` is stopped, then answers `status` again."""
    first = call()
    assert first.status_code == status, first.get_data(as_text=True)  # noqa: S101
    server.stop()
    assert_database_unavailable(call())
    server.start()
    again = call()
    assert again.status_code == status, again.get_data(as_text=True)  # noqa: S101


def problem_of(response: Any, status: int, slug: str | None = None) -> dict[str, Any]:
    """Assert a problem+json response with `status` (and type slug) and return its body."""
    assert response.status_code == status, response.get_data(as_text=True)  # noqa: S101
    assert response.mimetype == PROBLEM_MEDIA_TYPE  # noqa: S101
    body: dict[str, Any] = response.get_json()
    assert body["status"] == status  # noqa: S101
    assert body["type"].startswith("/problems/")  # noqa: S101
    if slug:
        assert body["type"] == "/problems/" + slug  # noqa: S101
    return body


RABBITMQ_ENV = "BAZAAR_TEST_RABBITMQ_URL"
DEFAULT_RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    """A real RabbitMQ for the tests (BAZAAR_TEST_RABBITMQ_URL, else the local default)."""
    from kombu.connection import Connection

    url = os.environ.get(RABBITMQ_ENV, DEFAULT_RABBITMQ)
    try:
        with Connection(url, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception:
        backend_missing(
            f"RabbitMQ at {url.split('@')[-1]}",
            f"Start it or set {RABBITMQ_ENV} to run these tests.",
        )
    return url


def _rabbitmq_tool(name: str) -> str:
    # Unwrapped: Debian's /usr/sbin wrapper would switch accounts (and so the Erlang
    # cookie's home).
    direct = os.path.join("/usr/lib/rabbitmq/bin", name)
    if os.path.exists(direct):
        return direct
    on_path = shutil.which(name)
    if on_path is None:
        backend_missing(f"RabbitMQ's {name}", "Install rabbitmq-server.")
    return on_path


class PrivateRabbitMQ:
    """A RabbitMQ node of the test's own (name, ports, data, logs, cookie) a test may stop."""

    def __init__(self) -> None:
        self.server = _rabbitmq_tool("rabbitmq-server")
        self.ctl = _rabbitmq_tool("rabbitmqctl")
        self.root = tempfile.mkdtemp(prefix="bazaar-rabbitmq-")
        self.node = f"bazaar-{uuid.uuid4().hex[:8]}@localhost"
        self.port = free_port()
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}//"
        files = {
            "enabled_plugins": "[].\n",
            "rabbitmq-env.conf": "",  # not the machine's node settings
            "rabbitmq.conf": f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
            "loopback_users = none\n",
        }
        for name, content in files.items():
            with open(os.path.join(self.root, name), "w") as file:
                file.write(content)
        self.env = {
            **os.environ,
            "HOME": self.root,  # its own Erlang cookie, for the server and rabbitmqctl
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": os.path.join(self.root, "mnesia"),
            "RABBITMQ_LOG_BASE": os.path.join(self.root, "log"),
            "RABBITMQ_PID_FILE": os.path.join(self.root, "rabbitmq.pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(self.root, "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": os.path.join(self.root, "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": os.path.join(self.root, "rabbitmq-env.conf"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }
        self._process: subprocess.Popen[bytes] | None = None

    def rabbitmqctl(self, *args: str, timeout: float = 90) -> None:
        """Run rabbitmqctl against this node."""
        subprocess.run(  # noqa: S603
            [self.ctl, "-n", self.node, *args], env=self.env, check=True, capture_output=True,
            timeout=timeout,
        )  # fmt: skip

    def start(self) -> None:
        """Boot the node and wait until its applications run."""
        with open(os.path.join(self.root, "server.log"), "ab") as out:
            self._process = subprocess.Popen(  # noqa: S603
                [self.server], env=self.env, cwd=self.root, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.rabbitmqctl("wait", "--timeout", "90", os.path.join(self.root, "rabbitmq.pid"))

    def stop_app(self) -> None:
        """Stop the broker (the Erlang node stays): every connection is closed."""
        self.rabbitmqctl("stop_app")

    def start_app(self) -> None:
        """Start the broker again and wait until it serves."""
        self.rabbitmqctl("start_app")
        self.rabbitmqctl("await_startup")

    def remove(self) -> None:
        """Shut the node down and delete its folder."""
        if self._process is not None:
            with suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
                self.rabbitmqctl("shutdown", timeout=30)
            if self._process.poll() is None:
                with suppress(ProcessLookupError):
                    os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait(10)
            self._process = None
        shutil.rmtree(self.root, ignore_errors=True)
