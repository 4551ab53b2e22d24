"""Request ids: accepted from `X-Request-ID` when sane, generated otherwise, propagated."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_current: ContextVar[str | None] = ContextVar("bazaar_request_id", default=None)


def accept_or_generate(incoming: str | None) -> str:
    """Keep a well-formed incoming id (so a trace spans services) or make a new one."""
    if incoming and _SAFE.match(incoming):
        return incoming
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    """The id of the request being handled in this context, if any."""
    return _current.get()


def set_request_id(value: str | None) -> None:
    """Bind the request id to this context."""
    _current.set(value)
