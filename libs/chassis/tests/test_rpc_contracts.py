"""The gRPC contracts: generated code matches the protos, and only compatible changes pass."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from chassis.rpc import contracts

FIXTURES = Path(__file__).parent / "fixtures" / "grpc"


def _with_catalog_from(tmp_path: Path, fixture: str) -> descriptor_pb2.FileDescriptorSet:
    """The current contracts with catalog's proto replaced by a fixture's."""
    root = tmp_path / fixture
    shutil.copytree(contracts.PROTO_ROOT, root, ignore=shutil.ignore_patterns("*.txtpb"))
    shutil.copytree(FIXTURES / fixture, root, dirs_exist_ok=True)
    return contracts.descriptor_set(root)


def test_committed_code_is_what_the_protos_generate(tmp_path: Path) -> None:
    generated = contracts.generate(tmp_path)
    committed_root = contracts.GENERATED_ROOT / contracts.GENERATED_PACKAGE
    committed = sorted(
        p.relative_to(contracts.GENERATED_ROOT)
        for p in committed_root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )
    assert committed == generated, "run `make grpc` and commit the result"
    for path in generated:
        assert (contracts.GENERATED_ROOT / path).read_bytes() == (tmp_path / path).read_bytes(), (
            f"{path} is stale: run `make grpc` and commit the result"
        )


def test_every_service_contract_is_released() -> None:
    released = {f.name for f in contracts.load_released().file}
    assert released == {str(p) for p in contracts.proto_files()}


def test_current_contracts_are_compatible_with_the_released_ones() -> None:
    assert contracts.breaking_changes(contracts.load_released(), contracts.descriptor_set()) == []


def test_a_deliberately_incompatible_change_is_caught(tmp_path: Path) -> None:
    problems = contracts.breaking_changes(
        contracts.load_released(), _with_catalog_from(tmp_path, "incompatible")
    )
    quote = ".bazaar.catalog.v1.ProductQuote"
    request = ".bazaar.catalog.v1.QuoteProductsRequest"
    assert f"{quote}: field sku = 2 removed without reserving it" in problems
    assert f"{quote}: field number 3 reused: name is now title" in problems
    assert (
        f"{quote}: field stock = 6 changed from optional TYPE_INT64 to optional TYPE_STRING"
        in problems
    )
    assert (
        f"{request}: field product_ids = 1 changed from repeated TYPE_INT64 to optional TYPE_INT64"
        in problems
    )
    assert (
        "service .bazaar.catalog.v1.Catalog: method QuoteProducts changed its signature" in problems
    )
    assert len(problems) == 5


def test_reserving_a_removed_field_and_adding_one_is_compatible(tmp_path: Path) -> None:
    current = _with_catalog_from(tmp_path, "compatible")
    assert contracts.breaking_changes(contracts.load_released(), current) == []


def test_a_removed_message_service_or_enum_value_is_caught() -> None:
    released = descriptor_pb2.FileDescriptorSet()
    file = released.file.add(name="x.proto", package="x")
    file.message_type.add(name="Gone")
    enum = file.enum_type.add(name="Colour")
    enum.value.add(name="RED", number=0)
    enum.value.add(name="BLUE", number=1)
    service = file.service.add(name="Svc")
    service.method.add(name="Call", input_type=".x.Gone", output_type=".x.Gone")
    current = descriptor_pb2.FileDescriptorSet()
    now = current.file.add(name="x.proto", package="x")
    now.enum_type.add(name="Colour").value.add(name="RED", number=0)
    assert contracts.breaking_changes(released, current) == [
        "message .x.Gone removed",
        "enum .x.Colour: value BLUE = 1 removed or renumbered",
        "service .x.Svc removed",
    ]


def test_release_refuses_a_breaking_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    incompatible = _with_catalog_from(tmp_path, "incompatible")
    monkeypatch.setattr(contracts, "descriptor_set", lambda root=None: incompatible)
    with pytest.raises(SystemExit, match="refusing to release a breaking change"):
        contracts.release()
