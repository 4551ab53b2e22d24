"""Auth test fixtures: an app per test inside a rolled-back transaction, on each backend.

Argon2 runs with tiny parameters here (through the settings) so the suite stays fast;
`credentials/test_passwords.py` checks what the production parameters produce.
"""

from __future__ import annotations

import itertools
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import stamina
from apiflask import APIFlask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from auth import create_app
from auth.clients.service import create_client
from auth.components import AuthComponents
from auth.credentials.service import create_credential
from auth.keys.service import DEFAULT_ID_TOKEN_ALGORITHM
from auth.models import Credential
from auth.service import SERVICE
from auth.settings import AuthSettings
from chassis import migrations
from chassis.testing import fresh_postgres_database, rolled_back

from .users_standin import UsersStandIn

FAST_ARGON2: dict[str, Any] = {"argon2_memory_kib": 64, "argon2_time_cost": 1}
PASSWORD = "a long enough passphrase"
PROBLEM = "application/problem+json"
_sequence = itertools.count(1)

AppFactory = Callable[..., APIFlask]


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> AuthSettings:
    """Settings for a test app: fast argon2, a private data folder, the stand-in users service."""
    fields: dict[str, Any] = {
        "env": "test",
        "database_url": database_url,
        "data_dir": data_dir,
        "users_timeout_seconds": 1.0,
        # The token endpoint's tests sign in with it; the default (off) has its own test.
        "password_grant": True,
        **FAST_ARGON2,
        **overrides,
    }
    return AuthSettings(**fields)


@pytest.fixture(scope="session", autouse=True)
def no_retry_waits() -> Iterator[None]:
    """Retries still happen (calls to users are retried), without their backoff sleeps."""
    with stamina.set_testing(True, attempts=3, cap=True):
        yield


@pytest.fixture(scope="session")
def migrated_url(database_url: str) -> str:
    """The session's database, migrated to head once."""
    assert SERVICE.migrations is not None
    migrations.upgrade(SERVICE.migrations, database_url)
    return database_url


@pytest.fixture(scope="session")
def users_service() -> Iterator[UsersStandIn]:
    """One stand-in users server for the session."""
    standin = UsersStandIn()
    yield standin
    standin.close()


@pytest.fixture
def users(users_service: UsersStandIn) -> UsersStandIn:
    """The stand-in users service, available and empty."""
    users_service.reset()
    return users_service


@pytest.fixture
def closed_port() -> int:
    """A local TCP port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def make_app(migrated_url: str, tmp_path: Path, users: UsersStandIn) -> Iterator[AppFactory]:
    """Build apps with settings overrides; everything they write is rolled back."""
    with ExitStack() as stack:

        def build(**overrides: Any) -> APIFlask:
            overrides = {"users_url": users.url, **overrides}
            app = create_app(make_settings(migrated_url, tmp_path, **overrides))
            stack.enter_context(rolled_back(app))
            stack.callback(parts(app).close)
            return app

        yield build


@pytest.fixture
def fresh_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty, migrated database of the session's backend, for tests that commit."""
    assert SERVICE.migrations is not None
    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'fresh.db'}"
        migrations.upgrade(SERVICE.migrations, url)
        yield url
        return
    with fresh_postgres_database() as url:
        migrations.upgrade(SERVICE.migrations, url)
        yield url


@pytest.fixture
def make_fresh_app(fresh_url: str, tmp_path: Path, users: UsersStandIn) -> Iterator[AppFactory]:
    """Build apps on a fresh database whose writes are committed (startup writes included)."""
    with ExitStack() as stack:

        def build(**overrides: Any) -> APIFlask:
            overrides = {"users_url": users.url, **overrides}
            app = create_app(make_settings(fresh_url, tmp_path, **overrides))
            stack.callback(app.extensions["bazaar"].db.dispose)
            stack.callback(parts(app).close)
            return app

        yield build


@pytest.fixture
def app(make_app: AppFactory) -> APIFlask:
    """The auth app with the test settings."""
    return make_app()


@pytest.fixture
def client(app: APIFlask) -> FlaskClient:
    """A test client for the app."""
    return app.test_client()


@pytest.fixture
def session(app: APIFlask) -> Iterator[Session]:
    """A session on the test transaction, for checks."""
    session = app.extensions["bazaar"].db.session_factory()
    yield session
    session.close()


def parts(app: APIFlask) -> AuthComponents:
    """The app's auth components."""
    found: AuthComponents = app.extensions["auth"]
    return found


def unique_email() -> str:
    """An email no other test uses."""
    return f"user{next(_sequence)}@example.com"


def make_account(
    app: APIFlask,
    *,
    email: str | None = None,
    password: str = PASSWORD,
    roles: Sequence[str] = ("customer",),
) -> Credential:
    """Store a credential directly (no profile in users)."""
    components = parts(app)
    with components.db.session() as session:
        return create_credential(
            session=session,
            passwords=components.passwords,
            email=email or unique_email(),
            password=password,
            roles=roles,
        )


def make_client(
    app: APIFlask,
    *,
    client_id: str | None = None,
    scopes: Sequence[str] = ("users:write",),
    redirect_uris: Sequence[str] = (),
    id_token_alg: str = DEFAULT_ID_TOKEN_ALGORITHM,
) -> tuple[str, str]:
    """Store an OAuth client; its id and secret."""
    components = parts(app)
    client_id = client_id or f"client-{next(_sequence)}"
    with components.db.session() as session:
        secret = create_client(
            session=session,
            passwords=components.passwords,
            client_id=client_id,
            scopes=scopes,
            redirect_uris=redirect_uris,
            id_token_alg=id_token_alg,
        )
    return client_id, secret


def log_in(
    client: FlaskClient, email: str, password: str = PASSWORD, **kwargs: Any
) -> TestResponse:
    """The password grant, form-encoded as an OAuth client sends it."""
    data = {"grant_type": "password", "username": email, "password": password}
    return client.post("/token", data=data, **kwargs)


def problem_of(response: TestResponse, status: int, error: str | None = None) -> dict[str, Any]:
    """Assert a problem+json answer (with an OAuth `error` when given); its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body: dict[str, Any] = response.get_json()
    assert body["status"] == status
    if error is not None:
        assert body["error"] == error
    return body
