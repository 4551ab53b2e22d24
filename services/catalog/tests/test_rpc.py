"""Contract test of the catalog's gRPC API: the server in-process, every RPC and its failures."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from sqlalchemy.orm import Session

from bazaar.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from catalog.models import Product
from chassis.rpc.client import RpcAnswer, answer_of
from chassis.testing import TokenMinter

from .conftest import make_category, make_product


def _quote(channel: grpc.Channel, ids: list[int], token: str | None) -> Any:
    metadata = [("authorization", f"Bearer {token}")] if token else []
    stub = catalog_pb2_grpc.CatalogStub(channel)
    return stub.QuoteProducts(
        catalog_pb2.QuoteProductsRequest(product_ids=ids), metadata=metadata, timeout=5
    )


def _failure(channel: grpc.Channel, ids: list[int], token: str | None) -> RpcAnswer:
    with pytest.raises(grpc.RpcError) as caught:
        _quote(channel, ids, token)
    return answer_of(caught.value)


@pytest.fixture
def products(session: Session) -> list[Product]:
    category = make_category(session)
    return [
        make_product(session, category, price_amount=1250, stock=3),
        make_product(session, category, price_amount=990, stock=0),
        make_product(session, category, active=False),
    ]


def test_quote_answers_price_currency_stock_of_each_product_for_sale(
    rpc_channel: grpc.Channel, products: list[Product], token_minter: TokenMinter
) -> None:
    first, sold_out, inactive = products
    answer = _quote(
        rpc_channel, [first.id, sold_out.id, inactive.id, first.id, 2**31], token_minter.mint()
    )
    quotes = {q.id: q for q in answer.products}
    assert set(quotes) == {first.id, sold_out.id}  # inactive and unknown ids are left out
    assert (quotes[first.id].price_amount, quotes[first.id].currency) == (1250, "EUR")
    assert (quotes[first.id].stock, quotes[sold_out.id].stock) == (3, 0)
    assert quotes[first.id].sku == first.sku and quotes[first.id].name == first.name
    assert all(q.active for q in quotes.values())


def test_quote_of_only_unknown_ids_is_empty(
    rpc_channel: grpc.Channel, token_minter: TokenMinter
) -> None:
    assert list(_quote(rpc_channel, [987654], token_minter.mint()).products) == []


@pytest.mark.parametrize(
    ("ids", "field"),
    [([], "product_ids"), ([1, 0], "product_ids.1"), (list(range(1, 102)), "product_ids")],
)
def test_bad_ids_are_invalid_argument_with_the_field(
    rpc_channel: grpc.Channel, token_minter: TokenMinter, ids: list[int], field: str
) -> None:
    failure = _failure(rpc_channel, ids, token_minter.mint())
    assert failure.code is grpc.StatusCode.INVALID_ARGUMENT
    assert list(failure.field_violations) == [field]


def test_quote_needs_a_verified_token(
    rpc_channel: grpc.Channel, products: list[Product], token_minter: TokenMinter
) -> None:
    assert _failure(rpc_channel, [products[0].id], None).code is grpc.StatusCode.UNAUTHENTICATED
    foreign = TokenMinter().mint()
    assert _failure(rpc_channel, [products[0].id], foreign).code is grpc.StatusCode.UNAUTHENTICATED
    expired = token_minter.mint(ttl=-120)
    assert _failure(rpc_channel, [products[0].id], expired).code is grpc.StatusCode.UNAUTHENTICATED


def test_health_service_says_serving(rpc_channel: grpc.Channel) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    stub = health_pb2_grpc.HealthStub(rpc_channel)
    for name in ("", "bazaar.catalog.v1.Catalog"):
        status = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=5).status
        assert status == health_pb2.HealthCheckResponse.SERVING
