"""The product API, end to end through Flask, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from catalog.models import Category, Product
from chassis.events import outbox_events
from chassis.testing import TokenMinter, problem_of

from ..conftest import make_category, make_product


@pytest.fixture
def shelf(session: Session) -> dict[str, Any]:
    """Two categories with products of distinct prices, names and stock."""
    tools = make_category(session, slug="tools", name="Tools")
    books = make_category(session, slug="books", name="Books")
    products = [
        make_product(session, tools, name="Hammer", price_amount=1500, stock=3,
                     description="A steel claw hammer"),
        make_product(session, tools, name="Anvil", price_amount=9900, stock=0,
                     description="Heavy and iron"),
        make_product(session, books, name="Cookbook", price_amount=2500, stock=7,
                     description="Recipes from the coast"),
        make_product(session, books, name="Atlas", price_amount=1500, stock=1,
                     description="Maps of the world"),
        make_product(session, books, name="Hidden", price_amount=100, active=False),
    ]  # fmt: skip
    return {"tools": tools, "books": books, "products": products}


def names(response: Any) -> list[str]:
    """Product names of a list response."""
    return [item["name"] for item in response.get_json()["items"]]


def walk(client: FlaskClient, query: str) -> list[str]:
    """Follow next_cursor to the end; return every name seen."""
    seen: list[str] = []
    cursor = None
    for _ in range(100):
        url = f"/products?{query}" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(url)
        assert response.status_code == 200
        seen += names(response)
        cursor = response.get_json()["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("pagination did not end")


def test_list_shape_has_items_and_next_cursor(client: FlaskClient, shelf: dict[str, Any]) -> None:
    body = client.get("/products").get_json()
    assert set(body) == {"items", "next_cursor"}
    item = body["items"][0]
    assert item["price"] == {"amount": item["price"]["amount"], "currency": "EUR"}
    assert isinstance(item["price"]["amount"], int)
    assert {"id", "sku", "slug", "category", "stock", "in_stock", "created_at"} <= set(item)


def test_listed_products_read_exactly_as_the_product_endpoint_shows_them(
    client: FlaskClient, shelf: dict[str, Any]
) -> None:
    listed = client.get("/products?limit=100").get_json()["items"]

    assert listed
    for item in listed:
        assert client.get(f"/products/{item['id']}").get_json() == item


def test_inactive_products_are_not_listed(client: FlaskClient, shelf: dict[str, Any]) -> None:
    assert "Hidden" not in walk(client, "limit=2")


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("newest", ["Atlas", "Cookbook", "Anvil", "Hammer"]),
        ("price_asc", ["Hammer", "Atlas", "Cookbook", "Anvil"]),
        ("price_desc", ["Anvil", "Cookbook", "Atlas", "Hammer"]),
        ("name", ["Anvil", "Atlas", "Cookbook", "Hammer"]),
    ],
)
def test_every_sort_pages_without_gaps_or_repeats(
    client: FlaskClient, shelf: dict[str, Any], sort: str, expected: list[str]
) -> None:
    for limit in (1, 2, 3, 100):
        assert walk(client, f"sort={sort}&limit={limit}") == expected


def test_default_limit_is_20_and_next_cursor_continues(
    client: FlaskClient, session: Session
) -> None:
    category = make_category(session)
    for _ in range(25):
        make_product(session, category)
    first = client.get("/products").get_json()
    assert len(first["items"]) == 20
    second = client.get(f"/products?cursor={first['next_cursor']}").get_json()
    assert len(second["items"]) == 5
    assert second["next_cursor"] is None
    ids = [p["id"] for p in first["items"] + second["items"]]
    assert len(set(ids)) == 25


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("category=tools", {"Hammer", "Anvil"}),
        ("category=nothing-here", set()),
        ("min_price=2000", {"Cookbook", "Anvil"}),
        ("max_price=1500", {"Hammer", "Atlas"}),
        ("min_price=1500&max_price=2500", {"Hammer", "Atlas", "Cookbook"}),
        ("in_stock=true", {"Hammer", "Cookbook", "Atlas"}),
        ("in_stock=false", {"Anvil"}),
        ("category=books&in_stock=true&max_price=2000", {"Atlas"}),
    ],
)
def test_filters_narrow_the_list(
    client: FlaskClient, shelf: dict[str, Any], query: str, expected: set[str]
) -> None:
    assert set(walk(client, query + "&limit=1")) == expected


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("hammer", {"Hammer"}),
        ("maps", {"Atlas"}),
        ("recipes coast", {"Cookbook"}),
        ("steel hammer", {"Hammer"}),
        ("zeppelin", set()),
        ("100%_", set()),
        # LIKE wildcards in the words are literal characters (SQLite), or no word (PostgreSQL).
        ("%", set()),
        ("_", set()),
        ("h_mmer", set()),
    ],
)
def test_search_matches_names_and_descriptions(
    client: FlaskClient, shelf: dict[str, Any], q: str, expected: set[str]
) -> None:
    assert set(walk(client, f"q={q}")) == expected


def test_ids_read_many_products_in_one_page(client: FlaskClient, shelf: dict[str, Any]) -> None:
    hammer, anvil, _, atlas, hidden = shelf["products"]
    wanted = f"{atlas.id},{hammer.id},{hidden.id},{atlas.id},999999"
    response = client.get(f"/products?ids={wanted}&limit=100")
    assert response.status_code == 200
    # Inactive and unknown ids are left out, as on the rest of the list; repeats count once.
    assert sorted(names(response)) == ["Atlas", "Hammer"]
    assert response.get_json()["next_cursor"] is None
    assert set(walk(client, f"ids={hammer.id},{anvil.id}&in_stock=true&limit=1")) == {"Hammer"}


def test_ids_past_the_column_range_name_no_product(
    client: FlaskClient, shelf: dict[str, Any]
) -> None:
    hammer = shelf["products"][0]
    response = client.get(f"/products?ids=2147483648,{hammer.id}")
    assert sorted(names(response)) == ["Hammer"]
    response = client.get("/products?ids=2147483648,9999999999")
    assert response.get_json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    "ids", ["", "a", "1,", ",1", "0", "1;2", "12345678901", ",".join(["1"] * 101)]
)
def test_malformed_ids_are_400(client: FlaskClient, ids: str) -> None:
    body = problem_of(client.get(f"/products?ids={ids}"), 400, "invalid-parameter")
    assert body["errors"][0]["field"] == "ids"


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten"])
def test_limit_outside_1_to_100_is_400(client: FlaskClient, limit: str) -> None:
    body = problem_of(client.get(f"/products?limit={limit}"), 400, "invalid-parameter")
    assert body["errors"][0]["field"] == "limit"


def test_bad_sort_is_400(client: FlaskClient) -> None:
    problem_of(client.get("/products?sort=random"), 400, "invalid-parameter")


def test_a_price_range_upside_down_is_an_empty_page(
    client: FlaskClient, shelf: dict[str, Any]
) -> None:
    response = client.get("/products?min_price=10&max_price=5")
    assert response.status_code == 200
    assert response.get_json() == {"items": [], "next_cursor": None}


def test_a_cursor_not_shaped_like_one_is_an_invalid_parameter(client: FlaskClient) -> None:
    problem_of(client.get("/products?cursor=not-a-cursor"), 400, "invalid-parameter")


def test_tampered_cursor_is_400(client: FlaskClient, shelf: dict[str, Any]) -> None:
    cursor = client.get("/products?limit=1").get_json()["next_cursor"]
    payload, _, signature = cursor.rpartition(".")
    forged = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1] + "." + signature
    problem_of(client.get(f"/products?limit=1&cursor={forged}"), 400, "invalid-cursor")


def test_cursor_of_another_sort_is_400(client: FlaskClient, shelf: dict[str, Any]) -> None:
    cursor = client.get("/products?limit=1&sort=name").get_json()["next_cursor"]
    problem_of(client.get(f"/products?sort=price_asc&cursor={cursor}"), 400, "invalid-cursor")


def test_get_product_by_id_and_slug(client: FlaskClient, shelf: dict[str, Any]) -> None:
    hammer: Product = shelf["products"][0]
    by_id = client.get(f"/products/{hammer.id}")
    assert by_id.status_code == 200
    assert by_id.get_json()["slug"] == hammer.slug
    by_slug = client.get(f"/products/by-slug/{hammer.slug}")
    assert by_slug.get_json()["id"] == hammer.id


@pytest.mark.parametrize("path", ["/products/999999", "/products/by-slug/nope", "/products/0",
                                  "/products/99999999999999999999"])  # fmt: skip
def test_unknown_product_is_404(client: FlaskClient, path: str) -> None:
    problem_of(client.get(path), 404)


def test_inactive_product_is_404_for_public_and_visible_to_admin(
    client: FlaskClient, shelf: dict[str, Any], admin: dict[str, str]
) -> None:
    hidden: Product = shelf["products"][4]
    problem_of(client.get(f"/products/{hidden.id}"), 404, "product-not-found")
    assert client.get(f"/products/{hidden.id}", headers=admin).get_json()["active"] is False


def new_product(category: Category | str = "tools", **overrides: Any) -> dict[str, Any]:
    """A valid ProductCreate body."""
    slug = category if isinstance(category, str) else category.slug
    return {
        "sku": "NEW-0001",
        "name": "Brand New Saw",
        "description": "Cuts wood",
        "price": {"amount": 3499, "currency": "EUR"},
        "category": slug,
        "stock": 4,
        **overrides,
    }


def test_admin_creates_a_product_that_is_then_listed(
    client: FlaskClient, shelf: dict[str, Any], admin: dict[str, str]
) -> None:
    response = client.post("/products", json=new_product(), headers=admin)
    assert response.status_code == 201
    created = response.get_json()
    assert created["slug"] == "brand-new-saw"
    assert response.headers["Location"] == f"/products/{created['id']}"
    assert "Brand New Saw" in walk(client, "q=saw")
    assert client.get(response.headers["Location"]).status_code == 200


def test_admin_routes_need_a_token(client: FlaskClient, shelf: dict[str, Any]) -> None:
    response = client.post("/products", json=new_product())
    problem_of(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    ["Bearer not.a.jwt", "Basic dXNlcjpwYXNz", "Bearer "],
)
def test_bad_tokens_are_401(client: FlaskClient, shelf: dict[str, Any], header: str) -> None:
    problem_of(client.post("/products", json=new_product(), headers={"Authorization": header}), 401)


def test_expired_or_foreign_tokens_are_401(
    client: FlaskClient, shelf: dict[str, Any], token_minter: TokenMinter
) -> None:
    expired = token_minter.auth("admin-1", roles=("admin",), ttl=-120)
    problem_of(client.post("/products", json=new_product(), headers=expired), 401)
    stranger = TokenMinter().auth("admin-1", roles=("admin",))
    problem_of(client.post("/products", json=new_product(), headers=stranger), 401)


def test_customer_token_on_admin_route_is_403(
    client: FlaskClient, shelf: dict[str, Any], customer: dict[str, str]
) -> None:
    problem_of(client.post("/products", json=new_product(), headers=customer), 403, "forbidden")


def test_duplicate_sku_is_409_and_nothing_changes(
    client: FlaskClient, shelf: dict[str, Any], admin: dict[str, str]
) -> None:
    existing: Product = shelf["products"][0]
    response = client.post("/products", json=new_product(sku=existing.sku), headers=admin)
    problem_of(response, 409, "duplicate-product")
    assert client.get(f"/products/{existing.id}").get_json()["name"] == "Hammer"


def test_unknown_category_is_422(client: FlaskClient, admin: dict[str, str]) -> None:
    problem_of(client.post("/products", json=new_product("nowhere"), headers=admin), 422,
               "unknown-category")  # fmt: skip


@pytest.mark.parametrize(
    "override",
    [
        {"price": {"amount": -1, "currency": "EUR"}},
        {"price": {"amount": 10.5, "currency": "EUR"}},
        {"price": {"amount": 100, "currency": "euro"}},
        {"sku": "lower case"},
        {"name": ""},
        {"name": "nul\x00byte"},
        {"stock": -3},
        {"image_url": "javascript:alert(1)"},
        {"role": "admin"},
    ],
)
def test_invalid_product_bodies_are_422(
    client: FlaskClient, shelf: dict[str, Any], admin: dict[str, str], override: dict[str, Any]
) -> None:
    body = problem_of(client.post("/products", json=new_product(**override), headers=admin), 422,
                      "validation-error")  # fmt: skip
    assert body["errors"]


def test_malformed_json_is_400(client: FlaskClient, admin: dict[str, str]) -> None:
    response = client.post(
        "/products", data="{not json", content_type="application/json", headers=admin
    )
    problem_of(response, 400)


def test_wrong_content_type_is_415(client: FlaskClient, admin: dict[str, str]) -> None:
    response = client.post("/products", data="sku=X", content_type="text/plain", headers=admin)
    problem_of(response, 415, "unsupported-media-type")


def test_body_over_one_mebibyte_is_413(client: FlaskClient, admin: dict[str, str]) -> None:
    huge = new_product(description="x" * (1024 * 1024 + 1))
    problem_of(client.post("/products", json=huge, headers=admin), 413, "payload-too-large")


def test_unknown_route_404_and_wrong_method_405(client: FlaskClient) -> None:
    problem_of(client.get("/nowhere"), 404, "not-found")
    response = client.put("/products")
    problem_of(response, 405, "method-not-allowed")
    assert "GET" in response.headers["Allow"]


def test_admin_updates_price_and_category(
    client: FlaskClient, shelf: dict[str, Any], admin: dict[str, str]
) -> None:
    hammer: Product = shelf["products"][0]
    response = client.patch(
        f"/products/{hammer.id}",
        json={"price": {"amount": 1799, "currency": "EUR"}, "category": "books"},
        headers=admin,
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["price"]["amount"] == 1799
    assert body["category"]["slug"] == "books"
    assert body["name"] == "Hammer"
    assert set(walk(client, "category=books&max_price=1800")) == {"Hammer", "Atlas"}


def test_update_to_a_taken_slug_is_409(
    client: FlaskClient, shelf: dict[str, Any], admin: dict[str, str]
) -> None:
    hammer, anvil = shelf["products"][0], shelf["products"][1]
    response = client.patch(f"/products/{hammer.id}", json={"slug": anvil.slug}, headers=admin)
    problem_of(response, 409)
    assert client.get(f"/products/{hammer.id}").get_json()["slug"] == hammer.slug


def test_deactivate_hides_but_keeps_the_product(
    client: FlaskClient, shelf: dict[str, Any], admin: dict[str, str]
) -> None:
    hammer: Product = shelf["products"][0]
    assert client.delete(f"/products/{hammer.id}", headers=admin).status_code == 204
    problem_of(client.get(f"/products/{hammer.id}"), 404)
    assert "Hammer" not in walk(client, "limit=10")
    restored = client.patch(f"/products/{hammer.id}", json={"active": True}, headers=admin)
    assert restored.get_json()["active"] is True


def test_stock_adjustments_add_and_take(
    client: FlaskClient, shelf: dict[str, Any], admin: dict[str, str]
) -> None:
    hammer: Product = shelf["products"][0]
    url = f"/products/{hammer.id}/stock-adjustments"
    assert (
        client.post(url, json={"delta": 5, "reason": "delivery"}, headers=admin).get_json()["stock"]
        == 8
    )
    taken = client.post(url, json={"delta": -8, "reason": "sold"}, headers=admin).get_json()
    assert taken["stock"] == 0
    assert taken["in_stock"] is False


def test_stock_never_goes_below_zero(
    client: FlaskClient, shelf: dict[str, Any], admin: dict[str, str]
) -> None:
    hammer: Product = shelf["products"][0]
    url = f"/products/{hammer.id}/stock-adjustments"
    body = problem_of(client.post(url, json={"delta": -4, "reason": "x"}, headers=admin), 409,
                      "insufficient-stock")  # fmt: skip
    assert body["stock"] == 3
    assert client.get(f"/products/{hammer.id}").get_json()["stock"] == 3
    problem_of(client.post(url, json={"delta": 0, "reason": "x"}, headers=admin), 422)


def test_stock_adjustment_of_unknown_product_is_404(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    problem_of(client.post("/products/424242/stock-adjustments", json={"delta": 1, "reason": "x"},
                           headers=admin), 404)  # fmt: skip


def published(session: Session, event_type: str) -> list[dict[str, Any]]:
    """Payloads the requests so far put into the outbox, of one event type."""
    return [event.payload for event in outbox_events(session, event_type=event_type)]


def test_create_update_and_deactivate_publish_product_changed(
    client: FlaskClient, session: Session, shelf: dict[str, Any], admin: dict[str, str]
) -> None:
    created = client.post("/products", json=new_product(), headers=admin).get_json()
    url = f"/products/{created['id']}"
    assert client.patch(url, json={"name": "Bigger Saw"}, headers=admin).status_code == 200
    assert client.delete(url, headers=admin).status_code == 204
    assert published(session, "product.changed") == [
        {"product_id": created["id"], "change": "created"},
        {"product_id": created["id"], "change": "updated"},
        {"product_id": created["id"], "change": "deactivated"},
    ]


def test_only_real_changes_publish_product_changed(
    client: FlaskClient, session: Session, shelf: dict[str, Any], admin: dict[str, str]
) -> None:
    hammer: Product = shelf["products"][0]
    hidden: Product = shelf["products"][4]
    url = f"/products/{hammer.id}"
    assert client.patch(url, json={"name": "Hammer"}, headers=admin).status_code == 200
    assert client.delete(f"/products/{hidden.id}", headers=admin).status_code == 204
    assert published(session, "product.changed") == []
    # Deactivating through PATCH says so; reactivating is an update.
    client.patch(url, json={"active": False}, headers=admin)
    client.patch(url, json={"active": True}, headers=admin)
    assert [p["change"] for p in published(session, "product.changed")] == [
        "deactivated",
        "updated",
    ]


def test_failed_product_writes_publish_nothing(
    client: FlaskClient, session: Session, shelf: dict[str, Any], admin: dict[str, str]
) -> None:
    existing: Product = shelf["products"][0]
    problem_of(client.post("/products", json=new_product(sku=existing.sku), headers=admin), 409)
    problem_of(client.post("/products", json=new_product("nowhere"), headers=admin), 422)
    assert published(session, "product.changed") == []


def test_stock_adjustments_publish_the_new_stock_level(
    client: FlaskClient, session: Session, shelf: dict[str, Any], admin: dict[str, str]
) -> None:
    hammer: Product = shelf["products"][0]
    url = f"/products/{hammer.id}/stock-adjustments"
    client.post(url, json={"delta": 5, "reason": "delivery"}, headers=admin)
    problem_of(client.post(url, json={"delta": -9, "reason": "too many"}, headers=admin), 409)
    client.post(url, json={"delta": -8, "reason": "sold"}, headers=admin)
    assert published(session, "stock.changed") == [
        {"product_id": hammer.id, "stock": 8},
        {"product_id": hammer.id, "stock": 0},
    ]
