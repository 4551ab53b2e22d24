"""Address endpoints, always the caller's own: parse, call one service function, answer."""

from __future__ import annotations

import uuid
from typing import Any

from apiflask import APIBlueprint
from flask import url_for

from chassis.flaskapp import db_session
from users.access import caller_id, signed_in
from users.addresses import service
from users.addresses.schemas import AddressCreate, AddressList, AddressRead, AddressUpdate

bp = APIBlueprint("addresses", __name__, tag="Addresses")


@bp.get("/me/addresses")
@signed_in
@bp.output(AddressList)
def list_addresses() -> AddressList:
    """The caller's addresses, oldest first."""
    rows = service.list_addresses(session=db_session(), user_id=caller_id())
    return AddressList.model_validate({"items": rows})


@bp.post("/me/addresses")
@signed_in
@bp.input(AddressCreate, arg_name="body")
@bp.output(AddressRead, status_code=201)
def create_address(body: AddressCreate) -> Any:
    """Add an address for the caller; 409 beyond 20."""
    address = service.create_address(
        session=db_session(), user_id=caller_id(), data=body.model_dump()
    )
    location = url_for("addresses.get_address", address_id=address.id)
    return AddressRead.model_validate(address), 201, {"Location": location}


@bp.get("/me/addresses/<uuid:address_id>")
@signed_in
@bp.output(AddressRead)
def get_address(address_id: uuid.UUID) -> AddressRead:
    """One of the caller's addresses; anyone else's is 404."""
    return AddressRead.model_validate(
        service.get_address(session=db_session(), user_id=caller_id(), address_id=str(address_id))
    )


@bp.patch("/me/addresses/<uuid:address_id>")
@signed_in
@bp.input(AddressUpdate, arg_name="body")
@bp.output(AddressRead)
def update_address(address_id: uuid.UUID, body: AddressUpdate) -> AddressRead:
    """Change one of the caller's addresses; send only the fields to change."""
    address = service.update_address(
        session=db_session(),
        user_id=caller_id(),
        address_id=str(address_id),
        changes=body.model_dump(exclude_unset=True),
    )
    return AddressRead.model_validate(address)


@bp.delete("/me/addresses/<uuid:address_id>")
@signed_in
@bp.output({}, status_code=204)
def delete_address(address_id: uuid.UUID) -> Any:
    """Remove one of the caller's addresses."""
    service.delete_address(session=db_session(), user_id=caller_id(), address_id=str(address_id))
    return ""
