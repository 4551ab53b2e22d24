"""The JWKS endpoint."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from auth.components import components
from auth.keys.schemas import JWKSetRead
from chassis.flaskapp import db_session

bp = APIBlueprint("keys", __name__, tag="Keys")

# Verifiers refetch on an unknown kid anyway; a short max-age bounds how long a
# cache may hide a newly published key from the others.
CACHE_CONTROL = "public, max-age=60"


@bp.get("/.well-known/jwks.json")
@bp.output(JWKSetRead)
def get_jwks() -> Any:
    """The public keys that verify access and ID tokens, including retired ones still in use."""
    keys = components().keys.published(db_session())
    body = JWKSetRead.model_validate({"keys": [key.public_jwk for key in keys]})
    return body, 200, {"Cache-Control": CACHE_CONTROL}
