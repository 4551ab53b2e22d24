"""The cart API: validation, catalog checks and arithmetic, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from chassis.testing import problem_of
from orders.cart import service as cart_service

from ..upstreams_standin import UpstreamsStandIn


def put(client: FlaskClient, headers: dict[str, str], product_id: int, quantity: object) -> object:
    """PUT /cart/items/{product_id}."""
    return client.put(f"/cart/items/{product_id}", json={"quantity": quantity}, headers=headers)


def test_every_cart_endpoint_needs_a_token(client: FlaskClient) -> None:
    problem_of(client.get("/cart"), 401)
    problem_of(client.put("/cart/items/1", json={"quantity": 1}), 401)
    problem_of(client.delete("/cart/items/1"), 401)


def test_a_new_cart_is_empty(client: FlaskClient, customer: dict[str, str]) -> None:
    body = client.get("/cart", headers=customer).get_json()
    assert body == {"items": [], "total": None, "currency": None, "item_count": 0}


def test_lines_and_totals_add_up(
    client: FlaskClient, customer: dict[str, str], shop: UpstreamsStandIn
) -> None:
    put(client, customer, 1, 2)
    response = put(client, customer, 2, 3)
    assert response.status_code == 200
    assert response.get_json() == client.get("/cart", headers=customer).get_json()
    assert response.get_json() == {
        "items": [
            {
                "product_id": 1,
                "name": "Hammer",
                "unit_price": {"amount": 1500, "currency": "EUR"},
                "quantity": 2,
                "line_total": {"amount": 3000, "currency": "EUR"},
            },
            {
                "product_id": 2,
                "name": "Nails",
                "unit_price": {"amount": 250, "currency": "EUR"},
                "quantity": 3,
                "line_total": {"amount": 750, "currency": "EUR"},
            },
        ],
        "total": {"amount": 3750, "currency": "EUR"},
        "currency": "EUR",
        "item_count": 5,
    }


def test_put_sets_the_quantity_and_refreshes_the_snapshot(
    client: FlaskClient, customer: dict[str, str], shop: UpstreamsStandIn
) -> None:
    put(client, customer, 1, 4)
    shop.add_product(1, name="Claw hammer", price={"amount": 1700, "currency": "EUR"})
    body = put(client, customer, 1, 1).get_json()  # type: ignore[attr-defined]
    assert [(i["name"], i["quantity"]) for i in body["items"]] == [("Claw hammer", 1)]
    assert body["total"] == {"amount": 1700, "currency": "EUR"}


@pytest.mark.parametrize("quantity", [0, 100, -1, "2", 1.5, None])
def test_quantity_outside_1_to_99_is_refused(
    client: FlaskClient, customer: dict[str, str], shop: UpstreamsStandIn, quantity: object
) -> None:
    problem_of(put(client, customer, 1, quantity), 422, "validation-error")


def test_unknown_and_inactive_products_are_refused(
    client: FlaskClient, customer: dict[str, str], shop: UpstreamsStandIn
) -> None:
    shop.add_product(3, active=False)
    problem_of(put(client, customer, 99, 1), 404, "unknown-product")
    problem_of(put(client, customer, 3, 1), 404, "unknown-product")
    problem_of(put(client, customer, 2**40, 1), 404, "unknown-product")
    assert client.get("/cart", headers=customer).get_json()["items"] == []


def test_a_product_in_another_currency_is_refused(
    client: FlaskClient, customer: dict[str, str], shop: UpstreamsStandIn
) -> None:
    shop.add_product(3, price={"amount": 900, "currency": "USD"})
    put(client, customer, 1, 1)
    body = problem_of(put(client, customer, 3, 1), 409, "currency-mismatch")
    assert (body["cart_currency"], body["currency"]) == ("EUR", "USD")


def test_the_only_product_may_change_currency(
    client: FlaskClient, customer: dict[str, str], shop: UpstreamsStandIn
) -> None:
    put(client, customer, 1, 1)
    shop.add_product(1, price={"amount": 1600, "currency": "USD"})
    assert put(client, customer, 1, 2).get_json()["currency"] == "USD"  # type: ignore[attr-defined]


def test_a_cart_holds_a_bounded_number_of_products(
    client: FlaskClient,
    customer: dict[str, str],
    shop: UpstreamsStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cart_service, "MAX_LINES", 1)
    put(client, customer, 1, 1)
    problem_of(put(client, customer, 2, 1), 409, "cart-full")
    assert put(client, customer, 1, 2).status_code == 200  # changing a line still works


def test_delete_removes_a_line_and_404s_when_absent(
    client: FlaskClient, customer: dict[str, str], shop: UpstreamsStandIn
) -> None:
    put(client, customer, 1, 1)
    put(client, customer, 2, 1)
    assert client.delete("/cart/items/1", headers=customer).status_code == 204
    items = client.get("/cart", headers=customer).get_json()["items"]
    assert [i["product_id"] for i in items] == [2]
    problem_of(client.delete("/cart/items/1", headers=customer), 404, "not-in-cart")
    problem_of(client.delete("/cart/items/2147483648", headers=customer), 404, "not-in-cart")


def test_each_customer_has_their_own_cart(
    client: FlaskClient, customer: dict[str, str], other: dict[str, str], shop: UpstreamsStandIn
) -> None:
    put(client, customer, 1, 2)
    assert client.get("/cart", headers=other).get_json()["items"] == []
    problem_of(client.delete("/cart/items/1", headers=other), 404, "not-in-cart")


def test_catalog_down_is_a_503_not_a_500(
    client: FlaskClient, customer: dict[str, str], shop: UpstreamsStandIn
) -> None:
    shop.down.add("catalog")
    problem_of(put(client, customer, 1, 1), 503, "dependency-unavailable")
    assert len(shop.seen) == 3  # a GET is retried
