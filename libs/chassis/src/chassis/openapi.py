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


def document_problems(spec: dict[str, Any]) -> dict[str, Any]:
    """Make every error response, and the default one, a problem document."""
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
            responses = operation.setdefault("responses", {})
            for status in list(responses):
                if status != "default" and int(status) >= 400:
                    responses[status] = {
                        "description": responses[status].get("description", "Error"),
                        "content": {PROBLEM_CONTENT_TYPE: {"schema": _PROBLEM_REF}},
                    }
            responses["default"] = problem_response
    return spec


def prefix_paths(spec: dict[str, Any], prefix: str, *, tag: str) -> dict[str, Any]:
    """A copy of `spec`'s paths under `prefix`, schemas renamed to avoid clashes."""

    def rename(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: (
                    v.replace("#/components/schemas/", f"#/components/schemas/{tag}.")
                    if k == "$ref" and isinstance(v, str) and "Problem" not in v
                    else rename(v)
                )
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [rename(item) for item in node]
        return node

    paths = {prefix + path: rename(item) for path, item in spec.get("paths", {}).items()}
    schemas = {
        f"{tag}.{name}": rename(schema)
        for name, schema in spec.get("components", {}).get("schemas", {}).items()
        if name != "Problem"
    }
    for item in paths.values():
        for method, operation in item.items():
            if method in _METHODS:
                operation["tags"] = [tag, *operation.get("tags", [])]
    return {"paths": paths, "schemas": schemas}
