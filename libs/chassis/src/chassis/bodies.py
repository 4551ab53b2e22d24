"""JSON request bodies validated as the OpenAPI document describes them.

APIFlask's pydantic adapter reads a JSON `null` as `{}` (so `PATCH` with `null` changed
nothing and answered 200) and validates in pydantic's lax mode (so `"stock": false` became
0). Ours takes only a JSON object and checks it in strict JSON mode: a value's JSON type
must be the one the schema names, while strings still parse into UUIDs and timestamps.
As in JSON Schema, a number with a zero fraction (`2.0`) is an integer.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from apiflask.exceptions import _ValidationError
from apiflask.schema_adapters import registry
from apiflask.schema_adapters.pydantic import PydanticAdapter, _format_pydantic_errors
from flask import current_app
from pydantic import ValidationError

if TYPE_CHECKING:
    from flask import Request


def _integers_as_ints(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integers_as_ints(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integers_as_ints(item) for item in value]
    return value


class JsonBodyAdapter(PydanticAdapter):
    """The pydantic adapter, with `json` bodies that must be objects, validated strictly."""

    def validate_input(self, request: Request, location: str, **kwargs: Any) -> Any:
        """Validate the body (or any other location, as APIFlask does)."""
        if location != "json":
            return super().validate_input(request, location, **kwargs)
        # Parsed first so that malformed JSON fails as it does everywhere else.
        data = request.get_json(force=True)
        try:
            if not isinstance(data, dict):
                raise ValidationError.from_exception_data(
                    self.model_class.__name__,
                    [{"type": "model_type", "loc": (), "input": data,
                      "ctx": {"class_name": "object"}}],
                )  # fmt: skip
            document = json.dumps(_integers_as_ints(data))
            return self.model_class.model_validate_json(document, strict=True)
        except ValidationError as error:
            raise _ValidationError(
                current_app.config["VALIDATION_ERROR_STATUS_CODE"],
                current_app.config["VALIDATION_ERROR_DESCRIPTION"],
                {location: _format_pydantic_errors(error.errors())},
            ) from error


def install() -> None:
    """Make APIFlask build every pydantic `@input` with `JsonBodyAdapter`."""
    registry.register("pydantic", JsonBodyAdapter)
