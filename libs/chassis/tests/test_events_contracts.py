"""Event contracts: every schema is valid, and payloads are checked against them."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from chassis.events import ContractViolation, validate_payload
from chassis.events.contracts import contracts_dir, known_types, schema_of


def test_every_contract_is_a_valid_draft_2020_12_schema_named_by_type_and_version() -> None:
    files = sorted(contracts_dir().glob("*.json"))
    assert files, "no contracts found"
    for path in files:
        schema = json.loads(path.read_text())
        Draft202012Validator.check_schema(schema)
        name, _, version = path.stem.rpartition(".v")
        assert schema["title"] == f"{name} v{version}"
        assert schema["additionalProperties"] is False
        assert schema["x-producer"] in {"orders", "catalog", "payments"}


def test_the_saga_events_all_have_contracts() -> None:
    saga = {
        "order.placed", "order.payment_requested", "order.confirmed", "order.cancelled",
        "stock.reserved", "stock.rejected", "stock.released",
        "payment.authorized", "payment.declined", "payment.voided",
    }  # fmt: skip
    assert saga <= {name for name, _ in known_types()}


def test_a_matching_payload_passes() -> None:
    validate_payload("stock.changed", 1, {"product_id": 3, "stock": 0})


@pytest.mark.parametrize(
    "payload",
    [
        {"product_id": 3},
        {"product_id": 3, "stock": -1},
        {"product_id": "3", "stock": 1},
        {"product_id": 3, "stock": 1, "extra": True},
    ],
)
def test_a_payload_that_breaks_the_contract_is_refused(payload: dict[str, object]) -> None:
    with pytest.raises(ContractViolation):
        validate_payload("stock.changed", 1, payload)


def test_an_unknown_type_or_version_is_refused() -> None:
    with pytest.raises(ContractViolation, match="no contract"):
        validate_payload("stock.teleported", 1, {})
    with pytest.raises(ContractViolation, match="no contract"):
        schema_of("stock.changed", 99)
