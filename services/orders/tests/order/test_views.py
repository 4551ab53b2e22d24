"""Order history, one order, cancel and admin status changes, and who may see what."""

from __future__ import annotations

import datetime as dt

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from chassis.events import outbox_events
from chassis.testing import problem_of
from orders.models import OrderStatus

from ..conftest import make_order

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def ids(response: object) -> list[str]:
    """Order ids of a list response."""
    return [o["id"] for o in response.get_json()["items"]]  # type: ignore[attr-defined]


def test_every_order_endpoint_needs_a_token(client: FlaskClient, session: Session) -> None:
    order = make_order(session)
    for response in (
        client.get("/"),
        client.get(f"/{order.id}"),
        client.get(f"/{order.id}/events"),
        client.post(f"/{order.id}/cancel"),
        client.post(f"/{order.id}/status", json={"status": "SHIPPED"}),
    ):
        problem_of(response, 401)


def test_the_list_holds_the_callers_orders_newest_first_in_pages(
    client: FlaskClient, customer: dict[str, str], session: Session
) -> None:
    mine = [make_order(session, created_at=T0 + dt.timedelta(minutes=i)) for i in range(5)]
    make_order(session, "user-b", created_at=T0)
    seen: list[str] = []
    url = "/?limit=2"
    for _ in range(5):
        body = client.get(url, headers=customer).get_json()
        assert len(body["items"]) <= 2
        seen += [o["id"] for o in body["items"]]
        if body["next_cursor"] is None:
            break
        url = f"/?limit=2&cursor={body['next_cursor']}"
    assert seen == [o.id for o in reversed(mine)]


def test_a_forged_cursor_is_a_400(client: FlaskClient, customer: dict[str, str]) -> None:
    problem_of(client.get("/?cursor=forged", headers=customer), 400, "invalid-parameter")
    problem_of(client.get("/?cursor=eyJzIjoxfQ.forged", headers=customer), 400, "invalid-cursor")


def test_admins_may_list_everyones_orders_and_filter_by_status(
    client: FlaskClient, admin: dict[str, str], customer: dict[str, str], session: Session
) -> None:
    a = make_order(session, "user-a", created_at=T0)
    b = make_order(
        session, "user-b", created_at=T0 + dt.timedelta(minutes=1), status=OrderStatus.CONFIRMED
    )
    assert ids(client.get("/?all=true", headers=admin)) == [b.id, a.id]
    assert ids(client.get("/?all=true&status=CONFIRMED", headers=admin)) == [b.id]
    assert ids(client.get("/", headers=admin)) == []  # without all=true: the admin's own
    problem_of(client.get("/?all=true", headers=customer), 403)


def test_an_order_is_visible_to_its_customer_and_admins_only(
    client: FlaskClient,
    customer: dict[str, str],
    other: dict[str, str],
    admin: dict[str, str],
    session: Session,
) -> None:
    order = make_order(session)
    body = client.get(f"/{order.id}", headers=customer).get_json()
    assert body["id"] == order.id
    assert body["allowed_transitions"] == ["CANCELLED"]
    assert client.get(f"/{order.id}", headers=admin).get_json()["id"] == order.id
    problem_of(client.get(f"/{order.id}", headers=other), 404, "order-not-found")
    problem_of(client.get(f"/{order.id}/events", headers=other), 404, "order-not-found")
    problem_of(client.post(f"/{order.id}/cancel", headers=other), 404, "order-not-found")
    problem_of(client.get("/ord_000000000000000000000000", headers=customer), 404)
    problem_of(client.get("/not-an-order-id", headers=customer), 404)
    assert outbox_events(session) == []


def test_the_shape_of_an_order(
    client: FlaskClient, customer: dict[str, str], session: Session
) -> None:
    order = make_order(session, total=3000)
    body = client.get(f"/{order.id}", headers=customer).get_json()
    assert set(body) == {
        "id",
        "status",
        "items",
        "subtotal",
        "total",
        "currency",
        "shipping_address",
        "payment_method_id",
        "cancel_reason",
        "history",
        "allowed_transitions",
        "created_at",
        "updated_at",
    }
    assert body["items"] == [
        {
            "product_id": 1,
            "sku": "SKU-0001",
            "name": "Hammer",
            "unit_price": {"amount": 1500, "currency": "EUR"},
            "quantity": 2,
            "line_total": {"amount": 3000, "currency": "EUR"},
        }
    ]
    assert body["history"][0]["status"] == "PENDING"
    assert body["history"][0]["at"].endswith(("Z", "+00:00"))


@pytest.mark.parametrize("status", [OrderStatus.PENDING, OrderStatus.CONFIRMED])
def test_a_customer_cancels_before_shipping(
    client: FlaskClient, customer: dict[str, str], session: Session, status: OrderStatus
) -> None:
    order = make_order(session, status=status)
    body = client.post(f"/{order.id}/cancel", headers=customer).get_json()
    assert body["status"] == "CANCELLED"
    assert body["cancel_reason"] == "cancelled by customer"
    assert body["history"][-1]["note"] == "cancelled by customer"
    assert body["allowed_transitions"] == []
    [event] = outbox_events(session, event_type="order.cancelled")
    assert event.payload == {
        "order_id": order.id,
        "customer_id": "user-a",
        "reason": "cancelled by customer",
    }


def test_an_admin_may_cancel_anyones_order(
    client: FlaskClient, admin: dict[str, str], session: Session
) -> None:
    order = make_order(session)
    body = client.post(f"/{order.id}/cancel", headers=admin).get_json()
    assert body["cancel_reason"] == "cancelled by an administrator"


@pytest.mark.parametrize(
    "status", [OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.CANCELLED]
)
def test_cancelling_after_shipping_is_an_illegal_transition(
    client: FlaskClient, customer: dict[str, str], session: Session, status: OrderStatus
) -> None:
    order = make_order(session, status=status)
    body = problem_of(
        client.post(f"/{order.id}/cancel", headers=customer), 409, "illegal-transition"
    )
    assert (body["order_status"], body["requested_status"]) == (status.value, "CANCELLED")
    assert outbox_events(session) == []


def test_an_admin_ships_then_delivers(
    client: FlaskClient, admin: dict[str, str], customer: dict[str, str], session: Session
) -> None:
    order = make_order(session, status=OrderStatus.CONFIRMED)
    assert client.get(f"/{order.id}", headers=admin).get_json()["allowed_transitions"] == [
        "CANCELLED",
        "SHIPPED",
    ]
    shipped = client.post(f"/{order.id}/status", json={"status": "SHIPPED"}, headers=admin)
    assert shipped.get_json()["status"] == "SHIPPED"
    assert shipped.get_json()["allowed_transitions"] == ["DELIVERED"]
    assert client.get(f"/{order.id}", headers=customer).get_json()["allowed_transitions"] == []
    delivered = client.post(f"/{order.id}/status", json={"status": "DELIVERED"}, headers=admin)
    body = delivered.get_json()
    assert body["status"] == "DELIVERED"
    assert [h["status"] for h in body["history"]] == ["CONFIRMED", "SHIPPED", "DELIVERED"]
    assert [e.payload for e in outbox_events(session, event_type="order.shipped")] == [
        {"order_id": order.id, "customer_id": "user-a"}
    ]
    assert len(outbox_events(session, event_type="order.delivered")) == 1


@pytest.mark.parametrize(
    ("status", "requested"),
    [
        (OrderStatus.PENDING, "SHIPPED"),
        (OrderStatus.PENDING, "DELIVERED"),
        (OrderStatus.CONFIRMED, "DELIVERED"),
        (OrderStatus.SHIPPED, "SHIPPED"),
        (OrderStatus.CANCELLED, "SHIPPED"),
        (OrderStatus.DELIVERED, "DELIVERED"),
    ],
)
def test_other_admin_moves_are_illegal(
    client: FlaskClient,
    admin: dict[str, str],
    session: Session,
    status: OrderStatus,
    requested: str,
) -> None:
    order = make_order(session, status=status)
    response = client.post(f"/{order.id}/status", json={"status": requested}, headers=admin)
    problem_of(response, 409, "illegal-transition")
    assert outbox_events(session) == []


def test_status_changes_are_for_admins_and_known_statuses_only(
    client: FlaskClient, admin: dict[str, str], customer: dict[str, str], session: Session
) -> None:
    order = make_order(session, status=OrderStatus.CONFIRMED)
    url = f"/{order.id}/status"
    problem_of(client.post(url, json={"status": "SHIPPED"}, headers=customer), 403)
    for status in ("CONFIRMED", "CANCELLED", "shipped", None):
        problem_of(client.post(url, json={"status": status}, headers=admin), 422)
    problem_of(
        client.post(
            "/ord_000000000000000000000000/status", json={"status": "SHIPPED"}, headers=admin
        ),
        404,
        "order-not-found",
    )
