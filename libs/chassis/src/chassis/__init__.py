"""The Bazaar chassis: what every service shares, written once."""

from chassis.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    ProblemError,
    Unauthorized,
    ValidationFailed,
)
from chassis.settings import ServiceSettings

__all__ = [
    "BadRequest",
    "Conflict",
    "Forbidden",
    "NotFound",
    "ProblemError",
    "ServiceSettings",
    "Unauthorized",
    "ValidationFailed",
]
