"""The users API document: path parameters bound by `<uuid:...>` rules say they are UUIDs."""

from __future__ import annotations

import re
from typing import Any

from apiflask import APIFlask
from werkzeug.routing import UUIDConverter

_UUID_SCHEMA = {"type": "string", "format": "uuid"}


def document_uuid_parameters(app: APIFlask) -> None:
    """After the chassis' processor, give `uuid:` path parameters `format: uuid`.

    APIFlask documents every converter but int and float as a bare string, so clients and
    the fuzzer would not know that `/{user_id}` takes a UUID.
    """
    previous = app.spec_callback

    def process(spec: Any) -> Any:
        spec = previous(spec) if previous else spec
        for rule in app.url_map.iter_rules():
            names = {n for n, c in rule._converters.items() if isinstance(c, UUIDConverter)}
            if not names:
                continue
            # The same rewrite APIFlask applies: `/<uuid:user_id>` -> `/{user_id}`.
            path = re.sub(r"<([^<:]+:)?", "{", rule.rule).replace(">", "}")
            for operation in spec.get("paths", {}).get(path, {}).values():
                for parameter in operation.get("parameters", []):
                    if parameter.get("in") == "path" and parameter.get("name") in names:
                        parameter["schema"] = dict(_UUID_SCHEMA)
        return spec

    app.spec_callback = process
