"""Checkout end to end: cart to PENDING order, idempotency, upstream checks and failures."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chassis.events import outbox_events
from chassis.testing import problem_of, watch_transactions
from orders.models import Order

from ..conftest import ADDRESS_ID, METHOD_ID, checkout
from ..upstreams_standin import UpstreamsStandIn


@pytest.fixture
def filled(client: FlaskClient, customer: dict[str, str], shop: UpstreamsStandIn) -> None:
    """Customer A's cart: 2 hammers at 15.00 and 4 packs of nails at 2.50."""
    for product_id, quantity in ((1, 2), (2, 4)):
        response = client.put(
            f"/cart/items/{product_id}", json={"quantity": quantity}, headers=customer
        )
        assert response.status_code == 200
    shop.seen.clear()


def order_count(session: Session) -> int:
    """Orders stored."""
    return session.scalar(select(func.count()).select_from(Order)) or 0


def nothing_written(client: FlaskClient, customer: dict[str, str], session: Session) -> None:
    """No order, no event, and the cart as it was."""
    assert order_count(session) == 0
    assert outbox_events(session) == []
    assert client.get("/cart", headers=customer).get_json()["item_count"] == 6


def test_checkout_places_a_pending_order_and_empties_the_cart(
    client: FlaskClient,
    customer: dict[str, str],
    shop: UpstreamsStandIn,
    filled: None,
    session: Session,
) -> None:
    shop.add_product(1, name="Hammer", price={"amount": 1600, "currency": "EUR"}, stock=5)
    response = checkout(client, customer)
    assert response.status_code == 202, response.get_data(as_text=True)
    order = response.get_json()
    assert response.headers["Location"] == f"/{order['id']}"
    assert order["id"].startswith("ord_") and len(order["id"]) == 28
    assert order["status"] == "PENDING"
    # Prices are re-read from catalog at checkout: the hammer now costs 16.00.
    lines = [
        (i["product_id"], i["sku"], i["quantity"], i["line_total"]["amount"])
        for i in order["items"]
    ]
    assert lines == [(1, "SKU-0001", 2, 3200), (2, "SKU-0002", 4, 1000)]
    assert order["subtotal"] == order["total"] == {"amount": 4200, "currency": "EUR"}
    assert order["currency"] == "EUR"
    assert order["shipping_address"]["city"] == "Lisbon"
    assert order["payment_method_id"] == METHOD_ID
    assert order["cancel_reason"] is None
    assert [(h["status"], h["note"]) for h in order["history"]] == [("PENDING", "order placed")]
    assert order["allowed_transitions"] == ["CANCELLED"]
    assert client.get(response.headers["Location"], headers=customer).get_json() == order

    assert order_count(session) == 1
    [placed] = outbox_events(session, event_type="order.placed")
    assert placed.payload == {
        "order_id": order["id"],
        "customer_id": "user-a",
        "items": [{"product_id": 1, "quantity": 2}, {"product_id": 2, "quantity": 4}],
        "total": {"amount": 4200, "currency": "EUR"},
        "payment_method_id": METHOD_ID,
    }
    assert len(outbox_events(session)) == 1
    assert client.get("/cart", headers=customer).get_json()["items"] == []
    # The caller's own token went to users and payments; catalog is public, and one call
    # priced the whole cart.
    assert shop.authorizations("users") == [customer["Authorization"]]
    assert shop.authorizations("payments") == [customer["Authorization"]]
    assert shop.authorizations("catalog") == [""]
    assert [s.path for s in shop.seen if s.service == "catalog"] == ["/products?ids=1,2&limit=100"]


def test_no_other_service_is_called_while_a_transaction_is_open(
    client: FlaskClient, customer: dict[str, str], shop: UpstreamsStandIn, filled: None
) -> None:
    calls: list[tuple[str, bool]] = []
    with watch_transactions() as watch:
        shop.on_request = lambda seen: calls.append((seen.service, watch.open))
        response = checkout(client, customer)
    assert response.status_code == 202, response.get_data(as_text=True)
    assert calls == [("users", False), ("payments", False), ("catalog", False)]


def test_a_cart_changed_while_catalog_answered_is_priced_again(
    app: Any, client: FlaskClient, customer: dict[str, str], shop: UpstreamsStandIn, filled: None
) -> None:
    changed: list[int] = []

    def change_cart_once(seen: Any) -> None:
        # Another request of the customer's, while checkout waits for catalog's prices.
        if seen.path.startswith("/products?") and not changed:
            other_client = app.test_client()
            changed.append(
                other_client.put(
                    "/cart/items/2", json={"quantity": 1}, headers=customer
                ).status_code
            )

    shop.on_request = change_cart_once
    response = checkout(client, customer)
    assert changed == [200]
    assert response.status_code == 202, response.get_data(as_text=True)
    assert [(i["product_id"], i["quantity"]) for i in response.get_json()["items"]] == [
        (1, 2),
        (2, 1),
    ]
    assert [s.path for s in shop.seen if s.path.startswith("/products?")] == [
        "/products?ids=1,2&limit=100"
    ] * 2


def test_a_cart_of_fifty_lines_costs_one_catalog_call(
    client: FlaskClient, customer: dict[str, str], shop: UpstreamsStandIn
) -> None:
    for product_id in range(1, 51):
        shop.add_product(product_id)
        client.put(f"/cart/items/{product_id}", json={"quantity": 1}, headers=customer)
    shop.seen.clear()
    response = checkout(client, customer)
    assert response.status_code == 202, response.get_data(as_text=True)
    assert len(response.get_json()["items"]) == 50
    assert [s.service for s in shop.seen] == ["users", "payments", "catalog"]


def test_checkout_needs_a_token_and_an_idempotency_key(
    client: FlaskClient, customer: dict[str, str], filled: None, session: Session
) -> None:
    problem_of(client.post("/", json={"address_id": "a", "payment_method_id": "b"}), 401)
    problem_of(checkout(client, customer, key=None), 400, "idempotency-key-missing")
    nothing_written(client, customer, session)


def test_a_replay_returns_the_first_answer_and_places_nothing_more(
    client: FlaskClient, customer: dict[str, str], filled: None, session: Session
) -> None:
    first = checkout(client, customer, key="same")
    replay = checkout(client, customer, key="same")
    assert replay.status_code == 202
    assert replay.get_json() == first.get_json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.headers["Location"] == first.headers["Location"]
    assert "Idempotent-Replayed" not in first.headers
    assert order_count(session) == 1
    assert len(outbox_events(session, event_type="order.placed")) == 1


def test_the_same_key_with_another_body_is_refused(
    client: FlaskClient, customer: dict[str, str], filled: None, session: Session
) -> None:
    checkout(client, customer, key="same")
    problem_of(
        checkout(client, customer, key="same", payment_method_id="pm_other"),
        422,
        "idempotency-key-reused",
    )
    assert order_count(session) == 1


def test_keys_belong_to_their_caller(
    client: FlaskClient,
    customer: dict[str, str],
    other: dict[str, str],
    filled: None,
) -> None:
    assert checkout(client, customer, key="shared").status_code == 202
    # B's request with the same key is B's own: B's cart is empty.
    problem_of(checkout(client, other, key="shared"), 409, "cart-empty")


def test_an_empty_cart_cannot_be_checked_out(
    client: FlaskClient, customer: dict[str, str], shop: UpstreamsStandIn, session: Session
) -> None:
    problem_of(checkout(client, customer), 409, "cart-empty")
    assert shop.seen == []


def test_a_refused_checkout_can_be_retried_with_the_same_key(
    client: FlaskClient, customer: dict[str, str], shop: UpstreamsStandIn, filled: None
) -> None:
    shop.methods.clear()
    problem_of(checkout(client, customer, key="k"), 422, "unknown-payment-method")
    shop.add_method(METHOD_ID)
    assert checkout(client, customer, key="k").status_code == 202


@pytest.mark.parametrize(
    ("body", "slug"),
    [
        ({"address_id": "nope", "payment_method_id": METHOD_ID}, "unknown-address"),
        ({"address_id": ADDRESS_ID, "payment_method_id": "nope"}, "unknown-payment-method"),
    ],
)
def test_unknown_address_or_payment_method_is_a_422(
    client: FlaskClient,
    customer: dict[str, str],
    filled: None,
    session: Session,
    body: dict[str, str],
    slug: str,
) -> None:
    problem_of(checkout(client, customer, **body), 422, slug)
    nothing_written(client, customer, session)


@pytest.mark.parametrize(
    "body",
    [
        {"address_id": "../../admin", "payment_method_id": METHOD_ID},
        {"address_id": ADDRESS_ID, "payment_method_id": "x" * 65},
        {"address_id": ADDRESS_ID},
        {"address_id": ADDRESS_ID, "payment_method_id": METHOD_ID, "coupon": "FREE"},
    ],
)
def test_malformed_bodies_are_a_422(
    client: FlaskClient, customer: dict[str, str], filled: None, body: dict[str, Any]
) -> None:
    response = client.post("/", json=body, headers={**customer, "Idempotency-Key": "m"})
    problem_of(response, 422, "validation-error")


def test_a_product_no_longer_for_sale_stops_the_checkout(
    client: FlaskClient,
    customer: dict[str, str],
    shop: UpstreamsStandIn,
    filled: None,
    session: Session,
) -> None:
    shop.add_product(2, active=False)
    body = problem_of(checkout(client, customer), 409, "product-unavailable")
    assert body["product_id"] == 2
    del shop.products[2]
    problem_of(checkout(client, customer, key="key-2"), 409, "product-unavailable")
    nothing_written(client, customer, session)


def test_too_little_stock_stops_the_checkout(
    client: FlaskClient,
    customer: dict[str, str],
    shop: UpstreamsStandIn,
    filled: None,
    session: Session,
) -> None:
    shop.add_product(1, stock=1)
    body = problem_of(checkout(client, customer), 409, "out-of-stock")
    assert (body["product_id"], body["stock"]) == (1, 1)
    nothing_written(client, customer, session)


def test_products_now_priced_in_two_currencies_stop_the_checkout(
    client: FlaskClient, customer: dict[str, str], shop: UpstreamsStandIn, filled: None
) -> None:
    shop.add_product(2, price={"amount": 300, "currency": "USD"})
    problem_of(checkout(client, customer), 409, "mixed-currencies")


@pytest.mark.parametrize("service", ["catalog", "users", "payments"])
def test_a_dependency_down_is_a_503(
    client: FlaskClient,
    customer: dict[str, str],
    shop: UpstreamsStandIn,
    filled: None,
    session: Session,
    service: str,
) -> None:
    shop.down.add(service)
    body = problem_of(checkout(client, customer), 503, "dependency-unavailable")
    assert service in body["detail"]
    nothing_written(client, customer, session)


def test_an_unreachable_dependency_is_a_503(
    app: Any, customer: dict[str, str], filled: None, session: Session
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    upstreams = app.extensions["orders.upstreams"]
    upstreams.close()
    upstreams._urls["users"] = f"http://127.0.0.1:{closed}"
    problem_of(checkout(app.test_client(), customer), 503, "dependency-unavailable")


def test_an_upstream_answering_nonsense_is_a_503(
    client: FlaskClient, customer: dict[str, str], shop: UpstreamsStandIn, filled: None
) -> None:
    shop.products[1] = {"id": 1, "price": "cheap"}
    problem_of(checkout(client, customer), 503, "dependency-unavailable")
