"""The event envelope every message carries, whatever its type."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from chassis.db import utcnow


class Event(BaseModel):
    """One fact that happened in a service, as it travels through the outbox and the broker."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=64)
    type: str = Field(pattern=r"^[a-z_]+\.[a-z_]+$", max_length=100)
    version: int = Field(ge=1)
    occurred_at: dt.datetime
    correlation_id: str = Field(min_length=1, max_length=128)
    payload: dict[str, Any]
    # W3C trace context of the span that wrote the outbox row (`traceparent`, `tracestate`):
    # consumers continue that trace. Optional: envelopes without it stay valid.
    trace: dict[str, Annotated[str, StringConstraints(max_length=512)]] | None = Field(
        default=None, max_length=2
    )

    @classmethod
    def new(
        cls,
        type: str,
        payload: dict[str, Any],
        *,
        version: int = 1,
        correlation_id: str | None = None,
        trace: dict[str, str] | None = None,
    ) -> Event:
        """A fresh event with a new id, stamped now."""
        event_id = str(uuid.uuid4())
        return cls(
            id=event_id,
            type=type,
            version=version,
            occurred_at=utcnow(),
            correlation_id=correlation_id or event_id,
            payload=payload,
            trace=trace or None,
        )

    def to_json(self) -> str:
        """The envelope as the JSON text stored in the outbox and sent to the broker."""
        # Without a trace the envelope is what it always was: no `"trace": null`.
        return self.model_dump_json(exclude={"trace"} if self.trace is None else None)

    @classmethod
    def from_json(cls, text: str | bytes) -> Event:
        """Parse an envelope; raises pydantic.ValidationError when it is not one."""
        return cls.model_validate_json(text)
