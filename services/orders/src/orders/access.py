"""Who is calling: every cart and order endpoint needs a signed-in caller."""

from __future__ import annotations

from chassis.errors import Forbidden
from chassis.flaskapp import require_principal, require_scope
from orders.models import CUSTOMER_ID_LENGTH
from orders.order.service import Actor

# No scope demanded: any verified token passes, no token gets 401 before the body is read.
signed_in = require_scope()


def customer_id() -> str:
    """The caller's id (the token's `sub`), which owns carts and orders."""
    subject = require_principal().subject
    if not 0 < len(subject) <= CUSTOMER_ID_LENGTH:
        # Events carry the customer id and allow 64 characters; no user id is longer.
        raise Forbidden("This token's subject cannot own carts or orders.")
    return subject


def caller_actor() -> Actor:
    """ADMIN for callers with the admin role, CUSTOMER for everyone else."""
    return Actor.ADMIN if require_principal().has_role("admin") else Actor.CUSTOMER
