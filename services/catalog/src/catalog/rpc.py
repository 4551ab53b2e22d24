"""The catalog's gRPC API (contracts/grpc/bazaar/catalog/v1): the product list's own rules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import grpc
from pydantic import BaseModel, ConfigDict, Field

from bazaar.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from catalog.products import service
from catalog.products.service import MAX_ID
from chassis import faults
from chassis.flaskapp import ServiceContext
from chassis.pagination import MAX_LIMIT
from chassis.rpc.server import fields_of, rpc, rpc_session, validated

SERVICE_NAME = "bazaar.catalog.v1.Catalog"


class QuoteQuery(BaseModel):
    """What `QuoteProducts` accepts: as `GET /products?ids=` does, at most a page of ids."""

    model_config = ConfigDict(extra="forbid")

    product_ids: Annotated[
        list[Annotated[int, Field(ge=1)]], Field(min_length=1, max_length=MAX_LIMIT)
    ]

    def ids(self) -> tuple[int, ...]:
        """Distinct ids; one past the column's range names no product and is left out."""
        return tuple(dict.fromkeys(i for i in self.product_ids if i <= MAX_ID))


class CatalogServicer(catalog_pb2_grpc.CatalogServicer):
    """Quotes come from `list_products`, the function behind `GET /products?ids=`."""

    def __init__(self, ctx: ServiceContext) -> None:
        self._codec = ctx.cursor_codec("products")

    @rpc()
    def QuoteProducts(
        self, request: catalog_pb2.QuoteProductsRequest, context: grpc.ServicerContext
    ) -> catalog_pb2.QuoteProductsResponse:
        """Price, stock and state of the products for sale among the ids asked for."""
        faults.sleep_for("catalog_latency_ms")  # as the HTTP API's requests are delayed
        ids = validated(QuoteQuery, fields_of(request)).ids()
        page = service.list_products(
            session=rpc_session(),
            codec=self._codec,
            filters=service.ProductFilters(ids=ids),
            sort="newest",
            cursor=None,
            limit=MAX_LIMIT,
        )
        return catalog_pb2.QuoteProductsResponse(
            products=[
                catalog_pb2.ProductQuote(
                    id=p.id,
                    sku=p.sku,
                    name=p.name,
                    price_amount=p.price_amount,
                    currency=p.currency,
                    stock=p.stock,
                    active=p.active,
                )
                for p in page.items
            ]
        )


def register(server: grpc.Server, app: Any) -> Sequence[str]:
    """Add the catalog's servicer to `server`."""
    catalog_pb2_grpc.add_CatalogServicer_to_server(
        CatalogServicer(app.extensions["bazaar"]), server
    )
    return [SERVICE_NAME]
