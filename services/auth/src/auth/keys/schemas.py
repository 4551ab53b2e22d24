"""The JWKS document (RFC 7517, Ed25519 keys per RFC 8037)."""

from __future__ import annotations

from typing import Literal

from chassis.schemas import Model


class JWKRead(Model):
    """One public signing key."""

    kty: Literal["OKP"]
    crv: Literal["Ed25519"]
    x: str
    kid: str
    use: Literal["sig"]
    alg: Literal["EdDSA"]


class JWKSetRead(Model):
    """The keys tokens may be signed with: the active one and recently retired ones."""

    keys: list[JWKRead]
