"""A database that goes away answers 503 with Retry-After, and the service recovers with it."""

from __future__ import annotations

from typing import Any

from chassis.testing import PrivatePostgres, TokenMinter, assert_database_outage_survived


def test_a_database_outage_is_a_503_and_service_resumes(
    app_on_private_postgres: Any, private_postgres: PrivatePostgres, token_minter: TokenMinter
) -> None:
    client = app_on_private_postgres.test_client()
    headers = token_minter.auth("user-outage", roles=("customer",))
    # No profile yet: a 404 is the database's answer.
    assert_database_outage_survived(
        private_postgres, lambda: client.get("/me/addresses", headers=headers), status=404
    )
