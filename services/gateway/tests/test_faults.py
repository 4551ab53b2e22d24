"""`/api/faults` at the gateway: admins read and flip the platform's fault flags."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
import pytest

from chassis import faults
from chassis.settings import ServiceSettings
from chassis.testing import TokenMinter

pytestmark = pytest.mark.anyio

OpenGateway = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def bearer(minter: TokenMinter, *roles: str) -> dict[str, str]:
    """An Authorization header for a caller with `roles`."""
    return {"Authorization": "Bearer " + minter.mint("ops-1", roles=roles)}


async def test_an_admin_lists_sets_and_clears_flags(
    open_gateway: OpenGateway, token_minter: TokenMinter, tmp_path: Path
) -> None:
    admin = bearer(token_minter, "admin")
    async with open_gateway(jwt_public_key=token_minter.public_pem) as client:
        listed = await client.get("/api/faults", headers=admin)
        assert listed.status_code == 200
        assert {i["name"]: i["value"] for i in listed.json()["items"]} == dict.fromkeys(
            faults.FAULTS, 0.0
        )

        set_ = await client.put(
            "/api/faults/payment_failure_ratio", json={"value": "40%"}, headers=admin
        )
        assert set_.status_code == 200
        assert set_.json() | {"description": ""} == {
            "name": "payment_failure_ratio",
            "kind": "ratio",
            "description": "",
            "maximum": 1,
            "value": 0.4,
            "active": True,
        }
        switched = await client.put(
            "/api/faults/events_paused", json={"value": True}, headers=admin
        )
        assert switched.json()["value"] == 1

        # What every other process of the platform reads: the same store.
        other = faults.Faults(
            faults.store_from_settings(ServiceSettings(env="test", data_dir=tmp_path)),
            service="payments",
        )
        assert other.value("payment_failure_ratio") == 0.4

        cleared = await client.delete("/api/faults/payment_failure_ratio", headers=admin)
        assert cleared.status_code == 200 and cleared.json()["active"] is False
        everything = await client.delete("/api/faults", headers=admin)
        assert everything.status_code == 204
        listed = await client.get("/api/faults", headers=admin)
        assert not any(i["active"] for i in listed.json()["items"])


async def test_callers_who_are_not_admins_are_refused(
    open_gateway: OpenGateway, token_minter: TokenMinter
) -> None:
    async with open_gateway(jwt_public_key=token_minter.public_pem) as client:
        anonymous = await client.get("/api/faults")
        customer = await client.put(
            "/api/faults/events_paused",
            json={"value": "on"},
            headers=bearer(token_minter, "customer"),
        )
        forged = await client.get("/api/faults", headers={"Authorization": "Bearer nope"})
    assert anonymous.status_code == 401
    assert customer.status_code == 403
    assert customer.headers["content-type"] == "application/problem+json"
    assert forged.status_code == 401


@pytest.mark.parametrize(
    ("path", "body", "status", "type_"),
    [
        ("/api/faults/gremlins", {"value": 1}, 404, "/problems/unknown-fault"),
        ("/api/faults/payment_failure_ratio", {"value": 2}, 422, "/problems/invalid-fault-value"),
        ("/api/faults/events_paused", {"value": "sometimes"}, 422, "/problems/invalid-fault-value"),
        ("/api/faults/events_paused", {"on": True}, 422, "/problems/validation-error"),
        ("/api/faults/events_paused", None, 400, "/problems/bad-request"),
    ],
)
async def test_bad_requests_get_problems(
    open_gateway: OpenGateway,
    token_minter: TokenMinter,
    path: str,
    body: object,
    status: int,
    type_: str,
) -> None:
    admin = bearer(token_minter, "admin")
    async with open_gateway(jwt_public_key=token_minter.public_pem) as client:
        if body is None:
            response = await client.put(path, content=b"{not json", headers=admin)
        else:
            response = await client.put(path, json=body, headers=admin)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == type_


async def test_production_refuses_fault_flags(
    open_gateway: OpenGateway, token_minter: TokenMinter
) -> None:
    admin = bearer(token_minter, "admin")
    async with open_gateway(
        env="production", secret_key="p" * 40, jwt_public_key=token_minter.public_pem
    ) as client:
        listed = await client.get("/api/faults", headers=admin)
        set_ = await client.put("/api/faults/events_paused", json={"value": "on"}, headers=admin)
    assert listed.status_code == set_.status_code == 403
    assert set_.json()["type"] == "/problems/faults-refused"
