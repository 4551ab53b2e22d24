"""Signing keys: Ed25519 pairs, private halves encrypted at rest, published as a JWKS."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from auth.models import SigningKey
from chassis.db import utcnow
from chassis.logging import get_logger

ALGORITHM = "EdDSA"
# Fixed context for HKDF, so this derived key differs from any other use of the secret.
_AT_REST_INFO = b"bazaar-auth/signing-keys-at-rest/v1"
log = get_logger("auth.keys")


class KeyUnreadable(RuntimeError):
    """A stored private key cannot be decrypted: BAZAAR_SECRET_KEY has changed since."""


class KeysManagedOutside(RuntimeError):
    """The signing key comes from BAZAAR_AUTH_SIGNING_KEY(_FILE); rotate it there."""


class NoSigningKey(RuntimeError):
    """No active key is stored (keys are created when the service starts)."""


class KeyCipher:
    """Encrypts private keys at rest with a Fernet key derived from the service secret."""

    def __init__(self, secret: str) -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_AT_REST_INFO).derive(
            secret.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def encrypt(self, private_key: Ed25519PrivateKey) -> str:
        """The key as PKCS#8 PEM, encrypted."""
        pem = private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return self._fernet.encrypt(pem).decode()

    def decrypt(self, token: str) -> Ed25519PrivateKey:
        """The key stored by `encrypt`."""
        try:
            pem = self._fernet.decrypt(token.encode())
        except InvalidToken as exc:
            raise KeyUnreadable(
                "a stored signing key cannot be decrypted; was BAZAAR_SECRET_KEY changed?"
            ) from exc
        return load_private_key(pem.decode())


def load_private_key(pem: str) -> Ed25519PrivateKey:
    """An Ed25519 private key from unencrypted PEM; anything else is refused."""
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the signing key must be an Ed25519 private key")
    return key


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, Any]:
    """The public key as a JWK (RFC 8037) whose kid is its RFC 7638 thumbprint."""
    x = _b64url(public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    required = {"crv": "Ed25519", "kty": "OKP", "x": x}
    # RFC 7638: the required members, sorted, without whitespace.
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True).encode()
    kid = _b64url(hashlib.sha256(canonical).digest())
    return {**required, "kid": kid, "use": "sig", "alg": ALGORITHM}


def public_pem(jwk: dict[str, Any]) -> str:
    """PEM (SubjectPublicKeyInfo) of an Ed25519 JWK."""
    raw = base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))
    key = Ed25519PublicKey.from_public_bytes(raw)
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@dataclass(frozen=True)
class ActiveKey:
    """The key that signs new tokens."""

    kid: str
    private_key: Ed25519PrivateKey


class KeyRing:
    """Which key signs, which keys are published; private keys are decrypted once per process.

    `retired_at` is when a key stops signing. A rotated-in key is published `lead` before it
    signs (verifiers refetch a JWKS for an unknown kid at most every 30 s), so the old key
    signs until then. Retired keys stay published until their last token has expired
    (`retired_at + access token TTL`).
    """

    def __init__(
        self,
        *,
        cipher: KeyCipher,
        access_ttl_seconds: int,
        lead_seconds: int,
        external_pem: str | None,
    ) -> None:
        self._cipher = cipher
        self._ttl = dt.timedelta(seconds=access_ttl_seconds)
        self._lead = dt.timedelta(seconds=lead_seconds)
        self._external = load_private_key(external_pem) if external_pem else None
        self._external_jwk = (
            public_jwk(self._external.public_key()) if self._external is not None else None
        )
        self._decrypted: dict[str, Ed25519PrivateKey] = {}

    @property
    def managed_outside(self) -> bool:
        """True when the signing key comes from the environment, not the database."""
        return self._external is not None

    def ensure(self, session: Session) -> str:
        """Make sure a key can sign (create one, or register the external one); its kid."""
        if self._external_jwk is not None:
            return self._ensure_external(session, self._external_jwk)
        usable = self._signing_row(session)
        if usable is not None and usable.private_key is not None:
            try:
                self._cipher.decrypt(usable.private_key)
            except KeyUnreadable:
                # BAZAAR_SECRET_KEY was changed (rotated, say): sign with a new key from now
                # on (no lead is possible); the old one stays published until its tokens
                # have expired.
                log.warning("signing key unreadable with this secret; rotating", kid=usable.kid)
                usable = None
        if usable is None:
            usable = create_key(session=session, cipher=self._cipher)
            _retire(session, keep=usable.kid, at=utcnow())
        return usable.kid

    def signing_key(self, session: Session) -> ActiveKey:
        """The key new tokens are signed with."""
        if self._external is not None and self._external_jwk is not None:
            return ActiveKey(self._external_jwk["kid"], self._external)
        row = self._signing_row(session)
        if row is None or row.private_key is None:
            raise NoSigningKey("no active signing key; start the service or run `keys rotate`")
        key = self._decrypted.get(row.kid)
        if key is None:
            key = self._decrypted[row.kid] = self._cipher.decrypt(row.private_key)
        return ActiveKey(row.kid, key)

    def published(self, session: Session, *, now: dt.datetime | None = None) -> list[SigningKey]:
        """Keys that sign or will, then retired keys whose tokens may be alive; newest first."""
        cutoff = (now or utcnow()) - self._ttl
        return list(
            session.scalars(
                select(SigningKey)
                .where(or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > cutoff))
                .order_by(SigningKey.retired_at.is_not(None), SigningKey.created_at.desc())
            )
        )

    def published_key(self, session: Session, kid: str) -> dict[str, Any] | None:
        """The public JWK of `kid` while it is published, else None."""
        row = session.get(SigningKey, kid) if len(kid) <= 64 else None
        if row is None:
            return None
        if row.retired_at is not None and row.retired_at <= utcnow() - self._ttl:
            return None
        return row.public_jwk

    def rotate(self, session: Session) -> tuple[SigningKey, list[SigningKey]]:
        """Add a key that signs after the lead; the ones signing now retire then."""
        if self.managed_outside:
            raise KeysManagedOutside(
                "the signing key comes from BAZAAR_AUTH_SIGNING_KEY(_FILE): replace it there"
            )
        new = create_key(session=session, cipher=self._cipher)
        retiring = _retire(session, keep=new.kid, at=new.created_at + self._lead)
        return new, retiring

    def _signing_row(self, session: Session) -> SigningKey | None:
        # The newest key published for at least the lead; when none is (a first start, or a
        # rotation soon after one), the one published longest.
        now = utcnow()
        rows = session.scalars(
            select(SigningKey)
            .where(
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
            session.add(SigningKey(kid=jwk["kid"], public_jwk=jwk, private_key=None))
        elif row.retired_at is not None:
            row.retired_at = None
        session.flush()
        _retire(session, keep=jwk["kid"], at=utcnow())
        return str(jwk["kid"])


def create_key(*, session: Session, cipher: KeyCipher) -> SigningKey:
    """Generate a key pair and store it (private half encrypted)."""
    private_key = Ed25519PrivateKey.generate()
    jwk = public_jwk(private_key.public_key())
    row = SigningKey(kid=jwk["kid"], public_jwk=jwk, private_key=cipher.encrypt(private_key))
    session.add(row)
    session.flush()
    return row


def _retire(session: Session, *, keep: str, at: dt.datetime) -> list[SigningKey]:
    """Every key but `keep` that would still sign after `at` stops signing then."""
    retiring = list(
        session.scalars(
            select(SigningKey).where(
                SigningKey.kid != keep,
                or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > at),
            )
        )
    )
    for key in retiring:
        key.retired_at = at
    session.flush()
    return retiring
