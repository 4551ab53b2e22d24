"""Who is calling: any signed-in caller, the customer id their token names, and admins."""

from __future__ import annotations

from chassis.errors import Forbidden
from chassis.flaskapp import require_principal, require_scope

# No scope demanded: any verified token passes, no token gets 401 before the body is read.
signed_in = require_scope()

# Customer ids travel in events whose contracts allow 64 characters.
MAX_CUSTOMER_ID = 64


def caller_id() -> str:
    """The caller's customer id: the token's subject."""
    subject = require_principal().subject
    if len(subject) > MAX_CUSTOMER_ID:
        raise Forbidden("This token's subject cannot own payment methods.")
    return subject


def caller_is_admin() -> bool:
    """True when the caller's token carries the admin role."""
    return require_principal().has_role("admin")
