"""Who is calling: any signed-in caller, and the user id their token names."""

from __future__ import annotations

import uuid

from chassis.flaskapp import require_principal, require_scope

# No scope demanded: any verified token passes, no token gets 401 before the body is read.
signed_in = require_scope()


def caller_id() -> str:
    """The caller's user id (the token's `sub`), in the canonical form profiles are stored in."""
    subject = require_principal().subject
    try:
        return str(uuid.UUID(subject))
    except ValueError:
        # Service tokens (`client:<id>`) name no profile; they simply find none.
        return subject


def caller_is_admin() -> bool:
    """True when the caller's token carries the admin role."""
    return require_principal().has_role("admin")
