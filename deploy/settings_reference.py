"""Print every service's settings as markdown tables, from the settings classes themselves.

    uv run python deploy/settings_reference.py                            # print
    uv run python deploy/settings_reference.py --write docs/operations.md  # refresh the doc
    uv run python deploy/settings_reference.py --check docs/operations.md  # exit 1 if stale

Descriptions come from each field's `description`, else from the comment above the field or
at the end of its line in the settings class, else (shared fields) from `SHARED_NOTES`.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import io
import json
import sys
import textwrap
import tokenize
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import SecretStr
from pydantic.fields import FieldInfo

from chassis.registry import discover
from chassis.settings import DEVELOPMENT_SECRET, ServiceSettings

START = "<!-- settings-reference:start -->"
END = "<!-- settings-reference:end -->"

# The shared fields carry no comment in the chassis; what an operator needs to know.
SHARED_NOTES = {
    "env": "`production` refuses unsafe settings (see below)",
    "host": "address to bind; the container image sets `0.0.0.0`",
    "port": "port to listen on",
    "grpc_port": "gRPC port of a service with a gRPC API (catalog); not started by `bazaar up` yet",
    "data_dir": "local files on embedded defaults (SQLite, revocations, embedded broker)",
    "log_level": "Python logging level",
    "secret_key": "signs cursors and sessions (auth: encrypts its signing keys); 32+ characters",
    "database_url": "SQLAlchemy URL, e.g. `postgresql+psycopg://user:password@host/db`",
    "redis_url": "shared revocation list (and gateway rate limits); in-process when unset",
    "broker_url": "RabbitMQ (`amqp://...`) for events; a folder under `data_dir` when unset",
    "jwt_public_key": "PEM key that verifies access tokens (instead of a JWKS URL)",
    "jwks_url": "auth's published keys: `http://<auth>/.well-known/jwks.json`",
    "jwt_issuer": "expected `iss` of access tokens",
    "jwt_audience": "expected `aud` of access tokens",
    "max_body_bytes": "larger request bodies are refused with 413",
    "workers": "server processes (gunicorn or uvicorn workers)",
    "threads": "threads per gunicorn worker",
}
SIMPLE_TYPES: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    SecretStr: "secret",
    Path: "path",
}


def describe_type(annotation: Any) -> str:
    """A reader's name for a settings field's type."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return "one of " + ", ".join(f"`{arg}`" for arg in args)
    if origin in (Union, types.UnionType) and type(None) in args:
        (rest,) = [arg for arg in args if arg is not type(None)]
        return describe_type(rest) + ", optional"
    if origin is dict:
        return "JSON object"
    if origin in (list, set, frozenset, tuple):
        return "JSON list"
    return SIMPLE_TYPES.get(annotation, getattr(annotation, "__name__", str(annotation)))


def describe_limits(field: FieldInfo) -> str:
    """Bounds and patterns pydantic enforces on a field, e.g. `> 0, <= 30`."""
    limits = []
    for constraint in field.metadata:
        for attribute, symbol in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            value = getattr(constraint, attribute, None)
            if value is not None:
                limits.append(f"{symbol} {value}")
        pattern = getattr(constraint, "pattern", None)
        if pattern:
            limits.append(f"matches `{pattern}`")
    return ", ".join(limits)


def describe_default(name: str, field: FieldInfo, service: str | None) -> str:
    """The default as an operator would write it in the environment."""
    value = field.default
    if name == "port" and not value:
        return "the service's port"
    if name == "grpc_port" and not value:
        return "`port` + 1000"
    if name == "database_url" and not value:
        where = f"{service}.db" if service else "<service>.db"
        return f"SQLite file `<data_dir>/{where}`"
    if isinstance(value, SecretStr):
        if value.get_secret_value() == DEVELOPMENT_SECRET:
            return "a development secret (refused in production)"
        return "(secret)"
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, frozenset | set):
        value = sorted(value)
    if isinstance(value, dict | list | tuple):
        return f"`{json.dumps(value)}`"
    return f"`{value}`"


def source_comments(cls: type) -> dict[str, str]:
    """Each field's comment in `cls`'s own source: the lines above it, or the end of its line."""
    source = textwrap.dedent(inspect.getsource(cls))
    body = ast.parse(source)
    comments: dict[int, str] = {}
    standalone: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
            if not token.line[: token.start[1]].strip():
                standalone.add(token.start[0])
    found = {}
    (class_node,) = [node for node in body.body if isinstance(node, ast.ClassDef)]
    for node in class_node.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        above: list[str] = []
        line = node.lineno - 1
        while line in standalone:
            above.insert(0, comments[line])
            line -= 1
        trailing = [
            comments[n]
            for n in range(node.lineno, (node.end_lineno or node.lineno) + 1)
            if n in comments and n not in standalone
        ]
        text = " ".join(above + trailing).strip()
        if text:
            found[node.target.id] = text
    return found


def describe(name: str, field: FieldInfo, comments: dict[str, str]) -> str:
    """The description column: the field's own description, its comment, or a shared note."""
    text = field.description or comments.get(name) or SHARED_NOTES.get(name, "")
    return text.replace("|", "\\|")


def table(
    rows: list[tuple[str, FieldInfo]], comments: dict[str, str], service: str | None
) -> list[str]:
    """One markdown table of settings."""
    out = ["| setting | type | default | what |", "| --- | --- | --- | --- |"]
    for name, field in rows:
        kind = describe_type(field.annotation)
        limits = describe_limits(field)
        out.append(
            f"| `{name.upper()}` | {kind}{', ' + limits if limits else ''} "
            f"| {describe_default(name, field, service)} | {describe(name, field, comments)} |"
        )
    return out


def reference() -> str:
    """The whole reference: shared settings, then each service's own, in start order."""
    shared = ServiceSettings.model_fields
    out = [
        "### Every service",
        "",
        "Each setting is read from `BAZAAR_<SERVICE>_<SETTING>` first, then"
        " `BAZAAR_<SETTING>` (e.g. `BAZAAR_CATALOG_DATABASE_URL`, then `BAZAAR_DATABASE_URL`).",
        "",
        *table(list(shared.items()), source_comments(ServiceSettings), None),
    ]
    for spec in discover().values():
        cls = spec.settings_class
        comments: dict[str, str] = {}
        for klass in reversed(cls.__mro__[: cls.__mro__.index(ServiceSettings)]):
            comments.update(source_comments(klass))
        own = [
            (name, field)
            for name, field in cls.model_fields.items()
            if name not in shared or field.default != shared[name].default
        ]
        out += ["", f"### {spec.name} (port {cls.default_port})", ""]
        if own:
            out += table(own, comments, spec.name)
        else:
            out.append("Only the shared settings.")
    return "\n".join(out) + "\n"


def replace_block(document: str, block: str) -> str:
    """`document` with the text between the markers replaced by `block`."""
    head, start, rest = document.partition(START)
    _, end, tail = rest.partition(END)
    if not (start and end):
        raise ValueError(f"the document needs the markers {START} and {END}")
    return f"{head}{START}\n{block}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    """Print the reference, or write it into (or check it against) a markdown document."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", type=Path, help="replace the block between the markers")
    group.add_argument("--check", type=Path, help="exit 1 when the block is out of date")
    args = parser.parse_args(argv)
    block = reference()
    target: Path | None = args.write or args.check
    if target is None:
        sys.stdout.write(block)
        return 0
    current = target.read_text()
    wanted = replace_block(current, block)
    if args.check:
        if current != wanted:
            print(f"{target} is out of date: run {Path(__file__).name} --write {target}")
            return 1
        return 0
    target.write_text(wanted)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
