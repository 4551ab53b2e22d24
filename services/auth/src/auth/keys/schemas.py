"""The JWKS document (RFC 7517): Ed25519 keys (RFC 8037) and RSA keys (RFC 7518 §6.3)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from chassis.schemas import Model


class Ed25519JWKRead(Model):
    """A public Ed25519 key: it signs access tokens (and ID tokens of clients that chose it)."""

    kty: Literal["OKP"]
    crv: Literal["Ed25519"]
    x: str
    kid: str
    use: Literal["sig"]
    alg: Literal["EdDSA"]


class RSAJWKRead(Model):
    """A public RSA key: it signs ID tokens (RS256)."""

    kty: Literal["RSA"]
    n: str
    e: str
    kid: str
    use: Literal["sig"]
    alg: Literal["RS256"]


JWKRead = Annotated[Ed25519JWKRead | RSAJWKRead, Field(discriminator="kty")]


class JWKSetRead(Model):
    """The keys tokens may be signed with: the active ones and recently retired ones."""

    keys: list[JWKRead]
