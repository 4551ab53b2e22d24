"""A database that goes away answers 503 with Retry-After, and the service recovers with it."""

from __future__ import annotations

from pathlib import Path

from auth import create_app
from auth.service import SERVICE
from chassis import migrations
from chassis.testing import PrivatePostgres, assert_database_unavailable, problem_of

from .conftest import make_settings, parts
from .users_standin import UsersStandIn


def test_a_database_outage_is_a_503_and_service_resumes(
    private_postgres: PrivatePostgres, users: UsersStandIn, tmp_path: Path
) -> None:
    assert SERVICE.migrations is not None
    url = private_postgres.new_database()
    migrations.upgrade(SERVICE.migrations, url)
    app = create_app(make_settings(url, tmp_path, users_url=users.url))
    try:
        client = app.test_client()
        form = {"grant_type": "refresh_token", "refresh_token": "made-up"}
        # An unknown token: the database was asked, and answered.
        problem_of(client.post("/token", data=form), 400, "invalid-grant")
        private_postgres.stop()
        assert_database_unavailable(client.post("/token", data=form))
        private_postgres.start()
        problem_of(client.post("/token", data=form), 400, "invalid-grant")
    finally:
        parts(app).close()
        app.extensions["bazaar"].db.dispose()
