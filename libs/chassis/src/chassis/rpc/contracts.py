"""The gRPC contracts in `contracts/grpc/`: code generation and the compatibility check.

Generated modules are committed under `libs/chassis/src/bazaar/` (as the storefront's API
types are) and a test regenerates them into a temporary folder to prove they match. The
messages and services once released are kept as a descriptor set in
`contracts/grpc/released.txtpb`; `breaking_changes` compares the current descriptors with
it, so a removed field, a reused number or a changed type fails CI instead of a caller.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import descriptor_pb2, text_format

REPO = Path(__file__).resolve().parents[5]
PROTO_ROOT = REPO / "contracts" / "grpc"
RELEASED = PROTO_ROOT / "released.txtpb"
GENERATED_ROOT = REPO / "libs" / "chassis" / "src"
GENERATED_PACKAGE = "bazaar"

_LABELS = {1: "optional", 2: "required", 3: "repeated"}


def proto_files(root: Path = PROTO_ROOT) -> list[Path]:
    """Every `.proto` under `root`, relative to it, in a stable order."""
    return sorted(p.relative_to(root) for p in root.rglob("*.proto"))


def _protoc(args: list[str]) -> None:
    # grpcio-tools is a development dependency: only code generation needs it.
    from grpc_tools import protoc  # type: ignore[import-untyped]

    include = str(Path(protoc.__file__).parent / "_proto")
    code = protoc.main(["grpc_tools.protoc", f"-I{include}", *args])
    if code != 0:
        raise RuntimeError(f"protoc failed ({code}): {' '.join(args)}")


def descriptor_set(root: Path = PROTO_ROOT) -> descriptor_pb2.FileDescriptorSet:
    """The compiled descriptors of every proto under `root` (no source info, no imports)."""
    with tempfile.TemporaryDirectory(prefix="bazaar-protoc-") as out:
        target = Path(out) / "set.binpb"
        _protoc([f"-I{root}", f"--descriptor_set_out={target}", *map(str, proto_files(root))])
        found = descriptor_pb2.FileDescriptorSet()
        found.ParseFromString(target.read_bytes())
    return found


def generate(out: Path, root: Path = PROTO_ROOT) -> list[Path]:
    """Write the Python modules, gRPC stubs and type stubs for every proto into `out`."""
    plugins = Path(sys.executable).parent
    _protoc(
        [
            f"-I{root}",
            f"--plugin=protoc-gen-mypy={plugins / 'protoc-gen-mypy'}",
            f"--plugin=protoc-gen-mypy_grpc={plugins / 'protoc-gen-mypy_grpc'}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            f"--mypy_out={out}",
            f"--mypy_grpc_out={out}",
            *map(str, proto_files(root)),
        ]
    )
    # Packages, so mypy and the wheel see them; the stubs mark them as typed.
    for folder in {p.parent for p in out.rglob("*.py")}:
        while folder != out:
            (folder / "__init__.py").touch()
            folder = folder.parent
    (out / GENERATED_PACKAGE / "py.typed").touch()
    return sorted(p.relative_to(out) for p in (out / GENERATED_PACKAGE).rglob("*") if p.is_file())


def regenerate() -> None:
    """Replace the committed generated code with a fresh generation (`make grpc`)."""
    shutil.rmtree(GENERATED_ROOT / GENERATED_PACKAGE, ignore_errors=True)
    generate(GENERATED_ROOT)


def release() -> None:
    """Record the current descriptors as released: from now on they may only grow."""
    problems = breaking_changes(load_released(), descriptor_set()) if RELEASED.exists() else []
    if problems:
        raise SystemExit("refusing to release a breaking change:\n" + "\n".join(problems))
    RELEASED.write_text(
        "# Released gRPC messages and services: written by `make grpc-release`, never by hand.\n"
        + text_format.MessageToString(descriptor_set())
    )


def load_released(path: Path = RELEASED) -> descriptor_pb2.FileDescriptorSet:
    """The descriptor set recorded at the last release."""
    return text_format.Parse(path.read_text(), descriptor_pb2.FileDescriptorSet())


@dataclass(frozen=True)
class _Field:
    name: str
    label: str
    type: int
    type_name: str
    proto3_optional: bool

    def shape(self) -> str:
        kind = self.type_name or descriptor_pb2.FieldDescriptorProto.Type.Name(
            descriptor_pb2.FieldDescriptorProto.Type.ValueType(self.type)
        )
        optional = " (explicit presence)" if self.proto3_optional else ""
        return f"{self.label} {kind}{optional}"


def _messages(
    package: str, messages: list[descriptor_pb2.DescriptorProto]
) -> Iterator[tuple[str, descriptor_pb2.DescriptorProto]]:
    for message in messages:
        name = f"{package}.{message.name}"
        yield name, message
        yield from _messages(name, list(message.nested_type))


def _index(
    found: descriptor_pb2.FileDescriptorSet,
) -> tuple[
    dict[str, dict[int, _Field]],
    dict[str, set[int]],
    dict[str, dict[str, int]],
    dict[str, dict[str, tuple[str, str, bool, bool]]],
]:
    messages: dict[str, dict[int, _Field]] = {}
    reserved: dict[str, set[int]] = {}
    enums: dict[str, dict[str, int]] = {}
    services: dict[str, dict[str, tuple[str, str, bool, bool]]] = {}
    for file in found.file:
        package = f".{file.package}" if file.package else ""
        for name, message in _messages(package, list(file.message_type)):
            messages[name] = {
                f.number: _Field(f.name, _LABELS[f.label], f.type, f.type_name, f.proto3_optional)
                for f in message.field
            }
            reserved[name] = {n for r in message.reserved_range for n in range(r.start, r.end)}
            for enum in message.enum_type:
                enums[f"{name}.{enum.name}"] = {v.name: v.number for v in enum.value}
        for enum in file.enum_type:
            enums[f"{package}.{enum.name}"] = {v.name: v.number for v in enum.value}
        for service in file.service:
            services[f"{package}.{service.name}"] = {
                m.name: (m.input_type, m.output_type, m.client_streaming, m.server_streaming)
                for m in service.method
            }
    return messages, reserved, enums, services


def breaking_changes(
    released: descriptor_pb2.FileDescriptorSet, current: descriptor_pb2.FileDescriptorSet
) -> list[str]:
    """What in `current` breaks a caller or server built against `released`; [] if nothing.

    Adding messages, fields, enum values, services and methods is compatible. Removing any
    of them is not (a field may go only when its number is reserved), nor is giving a
    field's number to another name, or changing its type or label.
    """
    old_messages, _, old_enums, old_services = _index(released)
    new_messages, new_reserved, new_enums, new_services = _index(current)
    problems: list[str] = []
    for name, fields in old_messages.items():
        if name not in new_messages:
            problems.append(f"message {name} removed")
            continue
        now = new_messages[name]
        for number, field in fields.items():
            if number not in now:
                if number not in new_reserved[name]:
                    problems.append(
                        f"{name}: field {field.name} = {number} removed without reserving it"
                    )
                continue
            after = now[number]
            if after.name != field.name:
                problems.append(
                    f"{name}: field number {number} reused: {field.name} is now {after.name}"
                )
            if after.shape() != field.shape():
                problems.append(
                    f"{name}: field {field.name} = {number} changed from {field.shape()} "
                    f"to {after.shape()}"
                )
    for name, values in old_enums.items():
        if name not in new_enums:
            problems.append(f"enum {name} removed")
            continue
        for value, number in values.items():
            if new_enums[name].get(value) != number:
                problems.append(f"enum {name}: value {value} = {number} removed or renumbered")
    for name, methods in old_services.items():
        if name not in new_services:
            problems.append(f"service {name} removed")
            continue
        for method, signature in methods.items():
            after_signature = new_services[name].get(method)
            if after_signature is None:
                problems.append(f"service {name}: method {method} removed")
            elif after_signature != signature:
                problems.append(f"service {name}: method {method} changed its signature")
    return problems


def main(argv: list[str] | None = None) -> None:
    """`python -m chassis.rpc.contracts generate|release|check`."""
    command = (argv if argv is not None else sys.argv[1:]) or ["check"]
    if command[0] == "generate":
        regenerate()
    elif command[0] == "release":
        release()
    else:
        problems = breaking_changes(load_released(), descriptor_set())
        if problems:
            raise SystemExit("\n".join(problems))


if __name__ == "__main__":
    main()
