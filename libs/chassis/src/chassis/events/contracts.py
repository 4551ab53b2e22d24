"""Event contracts: one JSON Schema per event type and version, in `contracts/events/`.

Payloads are checked against them when published and when consumed, so a producer cannot
emit, and a consumer cannot act on, a message its peers do not understand.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

CONTRACTS_ENV = "BAZAAR_EVENT_CONTRACTS"


class ContractViolation(ValueError):
    """A payload does not match its event type's schema, or the type has no schema."""


def contracts_dir() -> Path:
    """Where the schemas live: `$BAZAAR_EVENT_CONTRACTS`, else the repository's folder."""
    configured = os.environ.get(CONTRACTS_ENV)
    if configured:
        return Path(configured)
    return _source_tree_contracts()


@cache
def _source_tree_contracts() -> Path:
    # Resolved once: resolve() asks the filesystem, and every publish and delivery asks here.
    # libs/chassis/src/chassis/events/contracts.py -> the repository root is 5 levels up.
    return Path(__file__).resolve().parents[5] / "contracts" / "events"


@cache
def _validators(folder: Path) -> dict[tuple[str, int], Draft202012Validator]:
    found: dict[tuple[str, int], Draft202012Validator] = {}
    for path in sorted(folder.glob("*.v*.json")):
        name, _, version = path.name.removesuffix(".json").rpartition(".v")
        schema = json.loads(path.read_text())
        Draft202012Validator.check_schema(schema)
        found[(name, int(version))] = Draft202012Validator(schema)
    return found


def known_types() -> set[tuple[str, int]]:
    """Every (event type, version) that has a schema."""
    return set(_validators(contracts_dir()))


def schema_of(event_type: str, version: int = 1) -> dict[str, Any]:
    """The JSON Schema of one event type and version."""
    validator = _validators(contracts_dir()).get((event_type, version))
    if validator is None:
        raise ContractViolation(f"no contract for {event_type} v{version} in {contracts_dir()}")
    return dict(validator.schema)


def validate_payload(event_type: str, version: int, payload: dict[str, Any]) -> None:
    """Raise ContractViolation unless `payload` matches the type's schema."""
    validator = _validators(contracts_dir()).get((event_type, version))
    if validator is None:
        raise ContractViolation(f"no contract for {event_type} v{version} in {contracts_dir()}")
    try:
        validator.validate(payload)
    except ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "payload"
        raise ContractViolation(f"{event_type} v{version}: {where}: {exc.message}") from exc
