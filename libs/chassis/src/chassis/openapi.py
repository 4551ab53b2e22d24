"""OpenAPI post-processing shared by every service: errors documented as problem+json."""

from __future__ import annotations

from typing import Any

from chassis.errors import PROBLEM_CONTENT_TYPE

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "trace_id": {
            "type": "string",
            "description": "The request's trace (32 hex digits), while traces are on.",
            "pattern": "^[0-9a-f]{32}$",
        },
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "location": {"type": "string"},
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
    "required": ["type", "title", "status"],
    "additionalProperties": True,
}

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


_IDEMPOTENCY_PARAMETER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": True,
    "description": "A unique key (a UUID, say); a retry with the same key and body gets the "
    "first answer again, with `Idempotent-Replayed: true`.",
    # Printable ASCII; HTTP drops spaces around a header value, so none are at its ends.
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": 255,
        "pattern": r"^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$",
    },
}
_IDEMPOTENCY_RESPONSES = {
    "400": "Idempotency-Key missing or malformed",
    "409": "A request with this Idempotency-Key is still running",
    "422": "Idempotency-Key already used for a different request",
}


def _document_idempotency(operation: dict[str, Any]) -> None:
    if not operation.pop("x-idempotent", False):
        return
    operation.setdefault("parameters", []).append(_IDEMPOTENCY_PARAMETER)
    responses = operation.setdefault("responses", {})
    for status, description in _IDEMPOTENCY_RESPONSES.items():
        responses.setdefault(status, {"description": description})


_IF_NONE_MATCH_PARAMETER = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "An ETag from an earlier answer; 304 Not Modified when it is still current.",
    "schema": {"type": "string"},
}
_CACHE_HEADERS = {
    "ETag": {"description": "Identifies this representation.", "schema": {"type": "string"}},
    "Cache-Control": {"description": "How caches may keep it.", "schema": {"type": "string"}},
}


def _document_conditional(operation: dict[str, Any]) -> None:
    if not operation.pop("x-cacheable", False):
        return
    operation.setdefault("parameters", []).append(_IF_NONE_MATCH_PARAMETER)
    responses = operation.setdefault("responses", {})
    if "200" in responses:
        responses["200"].setdefault("headers", {}).update(_CACHE_HEADERS)
    responses.setdefault(
        "304",
        {
            "description": "Not Modified: the If-None-Match ETag is current.",
            "headers": {"ETag": _CACHE_HEADERS["ETag"]},
        },
    )


def _schema_requires_fields(spec: dict[str, Any], schema: Any) -> bool:
    if isinstance(schema, dict) and "$ref" in schema:
        name = str(schema["$ref"]).rpartition("/")[2]
        schema = spec.get("components", {}).get("schemas", {}).get(name)
    return isinstance(schema, dict) and bool(schema.get("required"))


def _document_required_body(spec: dict[str, Any], operation: dict[str, Any]) -> None:
    body = operation.get("requestBody")
    if not body:
        return
    content = body.get("content", {})
    # An empty body is not JSON: a JSON-only operation always needs one. One that also
    # takes a form needs one when its parameters include required fields.
    if set(content) == {"application/json"} or any(
        _schema_requires_fields(spec, media.get("schema")) for media in content.values()
    ):
        body["required"] = True


def document_problems(spec: dict[str, Any]) -> dict[str, Any]:
    """Make every error response, and the default one, a problem document.

    Operations marked by `chassis.idempotency.idempotent` also get their header documented,
    and those marked by `chassis.httpcache.public_cache` their If-None-Match and 304. A
    request body the operation cannot do without is marked required.
    """
    components = spec.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    for name in ("HTTPError", "ValidationError"):
        components.pop(name, None)
    problem_response = {
        "description": "Problem details (RFC 9457)",
        "content": {PROBLEM_CONTENT_TYPE: {"schema": _PROBLEM_REF}},
    }
    for path_item in spec.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in _METHODS:
                continue
            _document_idempotency(operation)
            _document_conditional(operation)
            _document_required_body(spec, operation)
            responses = operation.setdefault("responses", {})
            for status in list(responses):
                if status != "default" and 300 <= int(status) < 400 and status != "304":
                    # A redirect's answer is its Location; the body, if any, nobody reads.
                    responses[status].pop("content", None)
                    responses[status].setdefault("headers", {})["Location"] = {
                        "description": "Where to go next",
                        "schema": {"type": "string"},
                    }
                if status != "default" and int(status) >= 400:
                    responses[status] = {
                        "description": responses[status].get("description", "Error"),
                        "content": {PROBLEM_CONTENT_TYPE: {"schema": _PROBLEM_REF}},
                    }
            responses["default"] = problem_response
    return spec


_COMPONENTS = "#/components/"
# Components every service shares under one name: the Problem schema is the same document
# everywhere, and security schemes are named by operations rather than referenced with $ref.
_SHARED_REFS = frozenset({_COMPONENTS + "schemas/Problem"})
_SHARED_SECTIONS = frozenset({"securitySchemes"})


def prefix_paths(spec: dict[str, Any], prefix: str, *, tag: str) -> dict[str, Any]:
    """A copy of `spec`'s paths under `prefix`, its components renamed `<tag>.<name>`.

    Returns `paths`, `components` (every section, ready to merge with other services'),
    and `schemas` (the same as `components["schemas"]`). Operations get `tag` as their
    first tag and `<tag>_` before their operationId, so merged documents have no clashes.
    """

    def rename_ref(ref: str) -> str:
        section, _, name = ref.removeprefix(_COMPONENTS).partition("/")
        if ref in _SHARED_REFS or section in _SHARED_SECTIONS:
            return ref
        return f"{_COMPONENTS}{section}/{tag}.{name}"

    def rename(node: Any) -> Any:
        # Any string naming a component is a reference: `$ref` values and discriminator maps.
        if isinstance(node, str) and node.startswith(_COMPONENTS):
            return rename_ref(node)
        if isinstance(node, dict):
            return {key: rename(value) for key, value in node.items()}
        if isinstance(node, list):
            return [rename(item) for item in node]
        return node

    paths = {prefix + path: rename(item) for path, item in spec.get("paths", {}).items()}
    for item in paths.values():
        for method, operation in item.items():
            if method in _METHODS:
                operation["tags"] = [tag, *operation.get("tags", [])]
                if "operationId" in operation:
                    operation["operationId"] = f"{tag}_{operation['operationId']}"
    components: dict[str, dict[str, Any]] = {}
    for section, entries in spec.get("components", {}).items():
        if not isinstance(entries, dict):
            continue
        shared = section in _SHARED_SECTIONS
        components[section] = {
            (name if shared else f"{tag}.{name}"): rename(entry)
            for name, entry in entries.items()
            if _COMPONENTS + f"{section}/{name}" not in _SHARED_REFS
        }
    components.setdefault("schemas", {})
    return {"paths": paths, "components": components, "schemas": components["schemas"]}
