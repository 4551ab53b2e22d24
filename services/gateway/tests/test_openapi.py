"""The merged OpenAPI document: prefixed paths, renamed components, missing services listed."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest

from chassis.openapi import PROBLEM_SCHEMA
from gateway.openapi import merge_documents

pytestmark = pytest.mark.anyio

OpenGateway = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


async def test_merged_document_prefixes_paths_and_renames_components(
    open_gateway: OpenGateway, upstream_state: Any
) -> None:
    async with open_gateway() as client:
        response = await client.get("/api/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"] == "3.1.0"
    assert list(document["paths"]) == ["/api/echo/products/{id}"]
    operation = document["paths"]["/api/echo/products/{id}"]["get"]
    assert operation["tags"] == ["echo", "Products"]
    assert operation["operationId"] == "echo_get_product"
    assert operation["security"] == [{"BearerAuth": []}]
    ok_schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok_schema == {"$ref": "#/components/schemas/echo.ProductRead"}
    problem = operation["responses"]["404"]["content"]["application/problem+json"]["schema"]
    assert problem == {"$ref": "#/components/schemas/Problem"}
    schemas = document["components"]["schemas"]
    assert set(schemas) == {"Problem", "echo.ProductRead", "echo.Money"}
    assert schemas["Problem"] == PROBLEM_SCHEMA
    price = schemas["echo.ProductRead"]["properties"]["price"]
    assert price == {"$ref": "#/components/schemas/echo.Money"}
    assert document["components"]["securitySchemes"]["BearerAuth"]["scheme"] == "bearer"
    assert document["tags"] == [{"name": "echo", "description": "Echo service"}]
    assert "x-unavailable" not in document


async def test_down_service_is_listed_as_unavailable_not_a_500(
    open_gateway: OpenGateway, upstream_url: str, closed_url: str, upstream_state: Any
) -> None:
    upstreams = {"echo": upstream_url, "orders": closed_url}
    async with open_gateway(upstreams=upstreams) as client:
        response = await client.get("/api/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["x-unavailable"] == ["orders"]
    assert list(document["paths"]) == ["/api/echo/products/{id}"]


async def test_every_service_down_still_gives_a_document(
    open_gateway: OpenGateway, closed_url: str, broken_url: str
) -> None:
    async with open_gateway(upstreams={"a": closed_url, "b": broken_url}) as client:
        response = await client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.json()["paths"] == {}
    assert response.json()["x-unavailable"] == ["a", "b"]


async def test_a_fetched_document_is_cached(open_gateway: OpenGateway, upstream_state: Any) -> None:
    async with open_gateway() as client:
        await client.get("/api/openapi.json")
        await client.get("/api/openapi.json")
    assert upstream_state.openapi_calls == 1


async def test_a_failed_fetch_is_retried_on_the_next_request(
    open_gateway: OpenGateway, upstream_state: Any
) -> None:
    upstream_state.openapi_failures_left = 1
    async with open_gateway() as client:
        first = (await client.get("/api/openapi.json")).json()
        second = (await client.get("/api/openapi.json")).json()
    assert first["x-unavailable"] == ["echo"]
    assert "x-unavailable" not in second
    assert "/api/echo/products/{id}" in second["paths"]


def test_merge_keeps_same_named_schemas_of_two_services_apart() -> None:
    def document(title: str) -> dict[str, Any]:
        return {
            "info": {"title": title},
            "paths": {"/items": {"get": {"operationId": "list_items", "responses": {}}}},
            "components": {"schemas": {"Item": {"title": title}}},
        }

    merged = merge_documents({"orders": document("Orders"), "catalog": document("Catalog")}, [])
    assert merged["components"]["schemas"]["orders.Item"] == {"title": "Orders"}
    assert merged["components"]["schemas"]["catalog.Item"] == {"title": "Catalog"}
    operation_ids = [item["get"]["operationId"] for item in merged["paths"].values()]
    assert operation_ids == ["orders_list_items", "catalog_list_items"]


def test_merge_renames_every_component_reference_but_the_shared_problem() -> None:
    spec = {
        "paths": {
            "/pets": {
                "post": {
                    "requestBody": {"$ref": "#/components/requestBodies/NewPet"},
                    "responses": {"default": {"$ref": "#/components/responses/Oops"}},
                }
            }
        },
        "components": {
            "schemas": {
                "Pet": {
                    "oneOf": [{"$ref": "#/components/schemas/Cat"}],
                    "discriminator": {
                        "propertyName": "kind",
                        "mapping": {"cat": "#/components/schemas/Cat"},
                    },
                },
                "Cat": {"type": "object"},
                "ProblemReport": {"type": "object"},
                "Uses": {"$ref": "#/components/schemas/ProblemReport"},
            },
            "requestBodies": {"NewPet": {"content": {}}},
            "responses": {
                "Oops": {
                    "description": "Error",
                    "content": {
                        "application/problem+json": {
                            "schema": {"$ref": "#/components/schemas/Problem"}
                        }
                    },
                }
            },
        },
    }
    merged = merge_documents({"pets": spec}, [])
    operation = merged["paths"]["/api/pets/pets"]["post"]
    assert operation["requestBody"] == {"$ref": "#/components/requestBodies/pets.NewPet"}
    assert operation["responses"]["default"] == {"$ref": "#/components/responses/pets.Oops"}
    components = merged["components"]
    pet = components["schemas"]["pets.Pet"]
    assert pet["oneOf"] == [{"$ref": "#/components/schemas/pets.Cat"}]
    assert pet["discriminator"]["mapping"] == {"cat": "#/components/schemas/pets.Cat"}
    assert components["schemas"]["pets.Uses"] == {"$ref": "#/components/schemas/pets.ProblemReport"}
    oops = components["responses"]["pets.Oops"]["content"]["application/problem+json"]
    assert oops["schema"] == {"$ref": "#/components/schemas/Problem"}
    assert "pets.NewPet" in components["requestBodies"]
