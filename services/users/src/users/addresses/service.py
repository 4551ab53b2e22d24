"""Address operations: plain functions over a session; they flush, the caller commits."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from chassis.db import utcnow
from chassis.errors import Conflict, NotFound
from users.models import Address
from users.profiles.service import get_profile

MAX_ADDRESSES_PER_USER = 20


class AddressNotFound(NotFound):
    """No such address among the caller's (another user's address is not theirs to know)."""

    slug, title = "address-not-found", "Address not found"


class TooManyAddresses(Conflict):
    """The user has the maximum number of addresses already."""

    slug, title = "too-many-addresses", "Too many addresses"


def list_addresses(*, session: Session, user_id: str) -> list[Address]:
    """A user's addresses, oldest first; 404 when the user has no profile."""
    get_profile(session=session, user_id=user_id)
    stmt = select(Address).where(Address.user_id == user_id)
    return list(session.scalars(stmt.order_by(Address.created_at, Address.id)))


def get_address(*, session: Session, user_id: str, address_id: str) -> Address:
    """One of a user's addresses; 404 when missing or someone else's."""
    address = session.get(Address, address_id)
    if address is None or address.user_id != user_id:
        raise AddressNotFound(f"No address with id {address_id}.")
    return address


def _clear_default(session: Session, user_id: str, keep: str | None = None) -> None:
    # Before the new default is flushed, or the one-default index would refuse it.
    stmt = update(Address).where(Address.user_id == user_id, Address.is_default.is_(True))
    if keep is not None:
        stmt = stmt.where(Address.id != keep)
    session.execute(stmt.values(is_default=False, updated_at=utcnow()))


def create_address(*, session: Session, user_id: str, data: dict[str, Any]) -> Address:
    """Add an address; 409 beyond the per-user maximum, 404 without a profile."""
    # The profile's row lock serialises a user's address changes: the count and the
    # single default stay right under concurrent requests.
    get_profile(session=session, user_id=user_id, lock=True)
    count = session.scalar(
        select(func.count()).select_from(Address).where(Address.user_id == user_id)
    )
    if (count or 0) >= MAX_ADDRESSES_PER_USER:
        raise TooManyAddresses(
            f"A user can keep at most {MAX_ADDRESSES_PER_USER} addresses; delete one first.",
            extra={"limit": MAX_ADDRESSES_PER_USER},
        )
    if data.get("is_default"):
        _clear_default(session, user_id)
    address = Address(id=str(uuid.uuid4()), user_id=user_id, **data)
    session.add(address)
    session.flush()
    return address


def update_address(
    *, session: Session, user_id: str, address_id: str, changes: dict[str, Any]
) -> Address:
    """Apply the given changes; making it the default clears the user's other default."""
    get_profile(session=session, user_id=user_id, lock=True)
    address = get_address(session=session, user_id=user_id, address_id=address_id)
    if changes.get("is_default"):
        _clear_default(session, user_id, keep=address.id)
    for field, value in changes.items():
        setattr(address, field, value)
    session.flush()
    return address


def delete_address(*, session: Session, user_id: str, address_id: str) -> None:
    """Remove one of a user's addresses."""
    address = get_address(session=session, user_id=user_id, address_id=address_id)
    session.delete(address)
    session.flush()
