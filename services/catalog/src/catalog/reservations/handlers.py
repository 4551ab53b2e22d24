"""The catalog's side of the order saga: event handlers over the reservation service.

The worker runs each one through `handle_once` (inbox dedupe by event id, one transaction);
payloads were already checked against their contracts, so the handlers only translate.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from catalog.reservations.service import release_stock, reserve_stock
from catalog.settings import CatalogSettings
from chassis.events import Event, Handler


def handle_order_placed(session: Session, event: Event) -> None:
    """order.placed: reserve the order's items (stock.reserved) or nothing (stock.rejected)."""
    reserve_stock(
        session=session,
        order_id=event.payload["order_id"],
        items=[(item["product_id"], item["quantity"]) for item in event.payload["items"]],
    )


def handle_order_cancelled(session: Session, event: Event) -> None:
    """order.cancelled: give a reservation back to stock (stock.released), once."""
    release_stock(session=session, order_id=event.payload["order_id"])


def saga_handlers(_settings: CatalogSettings) -> dict[str, Handler]:
    """What `bazaar events worker catalog` consumes, by event type."""
    return {"order.placed": handle_order_placed, "order.cancelled": handle_order_cancelled}
