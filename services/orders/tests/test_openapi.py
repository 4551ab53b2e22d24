"""Schemathesis fuzzes the orders OpenAPI document: no 5xx, responses match the schema."""

from __future__ import annotations

from typing import Any

import schemathesis

from chassis.testing import TokenMinter, fuzz_openapi

from .upstreams_standin import UpstreamsStandIn

OPERATIONS = 9


def test_orders_api_survives_fuzzing_as_a_customer(
    app: Any, token_minter: TokenMinter, upstream: UpstreamsStandIn
) -> None:
    # Product 1 exists, so some cart updates succeed and checkout gets past an empty cart.
    upstream.add_product(1)
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    customer = token_minter.auth("user-fuzz", roles=("customer",))
    assert fuzz_openapi(schema, headers=customer, max_examples=15) == OPERATIONS


def test_orders_api_survives_fuzzing_anonymously(app: Any) -> None:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    assert fuzz_openapi(schema, max_examples=5) == OPERATIONS
