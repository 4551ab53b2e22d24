"""Field types of profiles and addresses; the text types come from the chassis, shared with auth."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

from chassis.schemas import DisplayName, Email, Line

__all__ = ["PHONE_PATTERN", "DisplayName", "Email", "Line", "Phone"]

PHONE_PATTERN = r"^\+?[0-9 ()-]{6,20}$"
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=PHONE_PATTERN)]
