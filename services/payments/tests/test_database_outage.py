"""A database that goes away answers 503 with Retry-After, and the service recovers with it."""

from __future__ import annotations

from typing import Any

from chassis.testing import PrivatePostgres, assert_database_outage_survived


def test_a_database_outage_is_a_503_and_service_resumes(
    app_on_private_postgres: Any, private_postgres: PrivatePostgres, customer: dict[str, str]
) -> None:
    client = app_on_private_postgres.test_client()
    assert_database_outage_survived(
        private_postgres, lambda: client.get("/methods", headers=customer), status=200
    )
