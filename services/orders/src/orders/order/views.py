"""Order endpoints: history, one order, its status stream, cancel, admin status changes."""

from __future__ import annotations

from typing import Any, cast

from apiflask import APIBlueprint
from apiflask.types import ResponsesObjectType
from flask import Response

from chassis.errors import Forbidden
from chassis.flaskapp import db_session, require_role
from chassis.flaskapp import service as chassis_service
from orders.access import caller_actor, customer_id, signed_in
from orders.models import OrderStatus
from orders.order import service
from orders.order.schemas import OrderPage, OrderQuery, OrderRead, StatusChange, order_read
from orders.order.service import Actor
from orders.order.stream import StreamTiming, status_events
from orders.settings import OrdersSettings

bp = APIBlueprint("order", __name__, tag="Orders")

STREAM_RESPONSE: ResponsesObjectType = {
    200: {
        "description": (
            "Server-Sent Events: `event: status` with the order (as in GET /{order_id}) "
            "now and after every change, `: heartbeat` comments every 5 s, `retry: 2000`. "
            "Ends when the order is CANCELLED or DELIVERED, or after 55 s."
        ),
        # OpenAPI 3.1: `schema` describes one event, its `data` an order as JSON.
        "content": {
            "text/event-stream": {
                "schema": {
                    "type": "object",
                    "required": ["event", "data"],
                    "properties": {
                        "event": {"const": "status"},
                        "id": {"type": "string"},
                        "retry": {"type": "integer", "minimum": 0},
                        "data": {
                            "type": "string",
                            "contentMediaType": "application/json",
                            "contentSchema": {"$ref": "#/components/schemas/OrderRead"},
                        },
                    },
                }
            }
        },
    }
}


@bp.get("/")
@signed_in
@bp.input(OrderQuery, location="query", arg_name="query")
@bp.output(OrderPage)
def list_orders(query: OrderQuery) -> OrderPage:
    """The caller's orders, newest first; admins may pass all=true for everyone's."""
    actor = caller_actor()
    if query.all and actor is not Actor.ADMIN:
        raise Forbidden("Only admins may list everyone's orders.")
    page = service.list_orders(
        session=db_session(),
        codec=chassis_service().cursor_codec("orders"),
        customer_id=None if query.all else customer_id(),
        status=query.status,
        cursor=query.cursor,
        limit=query.limit,
    )
    return OrderPage(
        items=[order_read(order, actor=actor) for order in page.items],
        next_cursor=page.next_cursor,
    )


@bp.get("/<order_id>")
@signed_in
@bp.output(OrderRead)
def get_order(order_id: str) -> OrderRead:
    """One order; 404 unless it is the caller's (or the caller is an admin)."""
    actor = caller_actor()
    order = service.get_order(
        session=db_session(), order_id=order_id, customer_id=customer_id(), actor=actor
    )
    return order_read(order, actor=actor)


@bp.get("/<order_id>/events")
@signed_in
@bp.doc(responses=STREAM_RESPONSE)
def order_events(order_id: str) -> Response:
    """The order's status as Server-Sent Events: now, then on every change."""
    actor = caller_actor()
    service.get_order(
        session=db_session(), order_id=order_id, customer_id=customer_id(), actor=actor
    )
    ctx = chassis_service()
    settings = cast(OrdersSettings, ctx.settings)
    timing = StreamTiming(
        poll_seconds=settings.stream_poll_seconds,
        heartbeat_seconds=settings.stream_heartbeat_seconds,
        max_seconds=settings.stream_max_seconds,
    )
    # The generator runs after this request's session is committed and closed; it reads
    # through sessions of its own.
    stream = status_events(db=ctx.db, order_id=order_id, actor=actor, timing=timing)
    return Response(
        stream,
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@bp.post("/<order_id>/cancel")
@signed_in
@bp.output(OrderRead)
def cancel_order(order_id: str) -> OrderRead:
    """Cancel an order before it ships (its customer or an admin); 409 afterwards."""
    actor = caller_actor()
    order = service.cancel_order(
        session=db_session(), order_id=order_id, customer_id=customer_id(), actor=actor
    )
    return order_read(order, actor=actor)


@bp.post("/<order_id>/status")
@require_role("admin")
@bp.input(StatusChange, arg_name="body")
@bp.output(OrderRead)
def change_status(order_id: str, body: StatusChange) -> Any:
    """Ship a confirmed order or deliver a shipped one (admin); 409 for any other move."""
    order = service.advance_order(
        session=db_session(), order_id=order_id, to=OrderStatus(body.status)
    )
    return order_read(order, actor=Actor.ADMIN)
