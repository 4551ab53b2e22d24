"""Signing keys: an Ed25519 line and an RSA line, private halves encrypted, published as a JWKS.

Access tokens are signed by the EdDSA line only; ID tokens by the RS256 line (OpenID Connect
Discovery requires RS256) or, for a client that registered it, by the EdDSA line (ADR 0018).
Each line is generated, rotated and retired on its own, the same way.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import (
    RSAPrivateKey,
    RSAPublicKey,
    generate_private_key,
)
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from auth.models import SigningKey
from chassis.db import utcnow
from chassis.logging import get_logger

EDDSA = "EdDSA"
RS256 = "RS256"
# Every line of the ring, in the order they are ensured and listed.
ALGORITHMS = (EDDSA, RS256)
ACCESS_TOKEN_ALGORITHM = EDDSA
# OpenID Connect Core §3.1.3.7: RS256 is what a client gets unless it registered another.
DEFAULT_ID_TOKEN_ALGORITHM = RS256
# RFC 7518 §3.3: at least 2048 bits; what the large providers publish.
RSA_KEY_BITS = 2048
# Fixed context for HKDF, so this derived key differs from any other use of the secret.
_AT_REST_INFO = b"bazaar-auth/signing-keys-at-rest/v1"
log = get_logger("auth.keys")

PrivateKey = Ed25519PrivateKey | RSAPrivateKey
PublicKey = Ed25519PublicKey | RSAPublicKey


class KeyUnreadable(RuntimeError):
    """A stored private key cannot be decrypted: BAZAAR_SECRET_KEY has changed since."""


class KeysManagedOutside(RuntimeError):
    """The line's key comes from the environment (a mounted secret); rotate it there."""


class NoSigningKey(RuntimeError):
    """No active key is stored (keys are created when the service starts)."""


class KeyCipher:
    """Encrypts private keys at rest with a Fernet key derived from the service secret."""

    def __init__(self, secret: str) -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_AT_REST_INFO).derive(
            secret.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def encrypt(self, private_key: PrivateKey) -> str:
        """The key as PKCS#8 PEM, encrypted."""
        pem = private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return self._fernet.encrypt(pem).decode()

    def decrypt(self, token: str, alg: str = EDDSA) -> PrivateKey:
        """The key stored by `encrypt`, which must be one of `alg`'s line."""
        try:
            pem = self._fernet.decrypt(token.encode())
        except InvalidToken as exc:
            raise KeyUnreadable(
                "a stored signing key cannot be decrypted; was BAZAAR_SECRET_KEY changed?"
            ) from exc
        return load_private_key(pem.decode(), alg)


def load_private_key(pem: str, alg: str = EDDSA) -> PrivateKey:
    """A private key of `alg`'s line from unencrypted PEM; anything else is refused."""
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if alg == EDDSA and isinstance(key, Ed25519PrivateKey):
        return key
    if alg == RS256 and isinstance(key, RSAPrivateKey):
        if key.key_size < RSA_KEY_BITS:
            raise ValueError(f"the RS256 signing key must have at least {RSA_KEY_BITS} bits")
        return key
    kind = "an Ed25519" if alg == EDDSA else "an RSA"
    raise ValueError(f"the {alg} signing key must be {kind} private key")


def generate_key(alg: str) -> PrivateKey:
    """A new private key for `alg`'s line."""
    if alg == RS256:
        return generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
    return Ed25519PrivateKey.generate()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_uint(value: int) -> str:
    return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def public_jwk(public_key: PublicKey) -> dict[str, Any]:
    """The public key as a JWK (RFC 8037 or RFC 7518 §6.3) whose kid is its RFC 7638 thumbprint."""
    required: dict[str, str]
    if isinstance(public_key, RSAPublicKey):
        numbers = public_key.public_numbers()
        required = {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)}
        alg = RS256
    else:
        raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        required = {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}
        alg = EDDSA
    # RFC 7638: the required members, sorted, without whitespace.
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True).encode()
    kid = _b64url(hashlib.sha256(canonical).digest())
    return {**required, "kid": kid, "use": "sig", "alg": alg}


def public_pem(jwk: dict[str, Any]) -> str:
    """PEM (SubjectPublicKeyInfo) of a published JWK."""
    key = jwt.PyJWK.from_dict(jwk).key
    if not isinstance(key, Ed25519PublicKey | RSAPublicKey):
        raise ValueError("not a public Ed25519 or RSA key")
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@dataclass(frozen=True)
class ActiveKey:
    """The key that signs new tokens of one line."""

    kid: str
    alg: str
    private_key: PrivateKey


class KeyRing:
    """Which key of each line signs, which keys are published; private keys decrypted once.

    `retired_at` is when a key stops signing. A rotated-in key is published `lead` before it
    signs (verifiers refetch a JWKS for an unknown kid at most every 30 s), so the old key
    signs until then. Retired keys stay published until their last token has expired
    (`retired_at + access token TTL`; ID tokens live as long). Lines never retire each
    other's keys.
    """

    def __init__(
        self,
        *,
        cipher: KeyCipher,
        access_ttl_seconds: int,
        lead_seconds: int,
        external_pems: Mapping[str, str | None],
    ) -> None:
        self._cipher = cipher
        self._ttl = dt.timedelta(seconds=access_ttl_seconds)
        self._lead = dt.timedelta(seconds=lead_seconds)
        self._external = {
            alg: load_private_key(pem, alg) for alg, pem in external_pems.items() if pem
        }
        self._external_jwk = {
            alg: public_jwk(key.public_key()) for alg, key in self._external.items()
        }
        self._decrypted: dict[str, PrivateKey] = {}

    def managed_outside(self, alg: str) -> bool:
        """True when `alg`'s key comes from the environment, not the database."""
        return alg in self._external

    def ensure(self, session: Session) -> dict[str, str]:
        """Make sure every line has a key that can sign; their kids by algorithm."""
        return {alg: self._ensure_line(session, alg) for alg in ALGORITHMS}

    def _ensure_line(self, session: Session, alg: str) -> str:
        external = self._external_jwk.get(alg)
        if external is not None:
            return self._ensure_external(session, external)
        usable = self._signing_row(session, alg)
        if usable is not None and usable.private_key is not None:
            try:
                self._cipher.decrypt(usable.private_key, alg)
            except KeyUnreadable:
                # BAZAAR_SECRET_KEY was changed (rotated, say): sign with a new key from now
                # on (no lead is possible); the old one stays published until its tokens
                # have expired.
                log.warning("signing key unreadable with this secret; rotating", kid=usable.kid)
                usable = None
        if usable is None:
            usable = create_key(session=session, cipher=self._cipher, alg=alg)
            _retire(session, keep=usable, at=utcnow())
        return usable.kid

    def signing_key(self, session: Session, alg: str = ACCESS_TOKEN_ALGORITHM) -> ActiveKey:
        """The key new tokens of `alg`'s line are signed with."""
        external = self._external.get(alg)
        if external is not None:
            return ActiveKey(self._external_jwk[alg]["kid"], alg, external)
        row = self._signing_row(session, alg)
        if row is None or row.private_key is None:
            raise NoSigningKey(f"no active {alg} key; start the service or run `keys rotate`")
        key = self._decrypted.get(row.kid)
        if key is None:
            key = self._decrypted[row.kid] = self._cipher.decrypt(row.private_key, alg)
        return ActiveKey(row.kid, alg, key)

    def published(self, session: Session, *, now: dt.datetime | None = None) -> list[SigningKey]:
        """Keys that sign or will, then retired keys whose tokens may be alive; newest first."""
        cutoff = (now or utcnow()) - self._ttl
        return list(
            session.scalars(
                select(SigningKey)
                .where(or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > cutoff))
                .order_by(
                    SigningKey.retired_at.is_not(None),
                    SigningKey.created_at.desc(),
                    SigningKey.kid.desc(),
                )
            )
        )

    def published_key(self, session: Session, kid: str, alg: str) -> dict[str, Any] | None:
        """The public JWK of `kid` while it is published in `alg`'s line, else None."""
        row = session.get(SigningKey, kid) if len(kid) <= 64 else None
        if row is None or row.alg != alg:
            return None
        if row.retired_at is not None and row.retired_at <= utcnow() - self._ttl:
            return None
        return row.public_jwk

    def rotate(self, session: Session, alg: str) -> tuple[SigningKey, list[SigningKey]]:
        """Add a key to `alg`'s line that signs after the lead; its signing ones retire then."""
        if self.managed_outside(alg):
            raise KeysManagedOutside(
                f"the {alg} signing key comes from the environment "
                f"({_EXTERNAL_SETTING[alg]}): replace it there"
            )
        new = create_key(session=session, cipher=self._cipher, alg=alg)
        retiring = _retire(session, keep=new, at=new.created_at + self._lead)
        return new, retiring

    def _signing_row(self, session: Session, alg: str) -> SigningKey | None:
        # The newest key published for at least the lead; when none is (a first start, or a
        # rotation soon after one), the one published longest.
        now = utcnow()
        rows = session.scalars(
            select(SigningKey)
            .where(
                SigningKey.alg == alg,
                SigningKey.private_key.is_not(None),
                or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > now),
            )
            .order_by(SigningKey.created_at.desc(), SigningKey.kid.desc())
        ).all()
        mature = [row for row in rows if row.created_at <= now - self._lead]
        if mature:
            return mature[0]
        return rows[-1] if rows else None

    def _ensure_external(self, session: Session, jwk: dict[str, Any]) -> str:
        row = session.get(SigningKey, jwk["kid"])
        if row is None:
            row = SigningKey(kid=jwk["kid"], alg=jwk["alg"], public_jwk=jwk, private_key=None)
            session.add(row)
        elif row.retired_at is not None:
            row.retired_at = None
        session.flush()
        _retire(session, keep=row, at=utcnow())
        return str(jwk["kid"])


_EXTERNAL_SETTING = {
    EDDSA: "BAZAAR_AUTH_SIGNING_KEY(_FILE)",
    RS256: "BAZAAR_AUTH_RSA_SIGNING_KEY(_FILE)",
}


def create_key(*, session: Session, cipher: KeyCipher, alg: str = EDDSA) -> SigningKey:
    """Generate a key pair for `alg`'s line and store it (private half encrypted)."""
    private_key = generate_key(alg)
    jwk = public_jwk(private_key.public_key())
    row = SigningKey(
        kid=jwk["kid"], alg=alg, public_jwk=jwk, private_key=cipher.encrypt(private_key)
    )
    session.add(row)
    session.flush()
    return row


def _retire(session: Session, *, keep: SigningKey, at: dt.datetime) -> list[SigningKey]:
    """Every key of `keep`'s line but `keep` that would still sign after `at` stops then."""
    retiring = list(
        session.scalars(
            select(SigningKey).where(
                SigningKey.alg == keep.alg,
                SigningKey.kid != keep.kid,
                or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > at),
            )
        )
    )
    for key in retiring:
        key.retired_at = at
    session.flush()
    return retiring
