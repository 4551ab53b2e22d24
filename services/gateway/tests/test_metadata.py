"""Auth's RFC 8414 metadata at the path-inserted well-known URL (§3.1), through the gateway."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
import pytest

from .conftest import UpstreamState

pytestmark = pytest.mark.anyio

OpenGateway = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
INSERTED = "/.well-known/oauth-authorization-server/api/auth"


async def test_the_path_inserted_url_is_auths_metadata_document(
    open_gateway: OpenGateway, upstream_url: str, upstream_state: UpstreamState
) -> None:
    async with open_gateway(upstreams={"auth": upstream_url}) as client:
        response = await client.get(INSERTED + "?probe=1")
        head = await client.head(INSERTED)

    assert response.status_code == 200
    echoed = response.json()
    # Auth serves it at the issuer (`/api/auth/.well-known/...`): the same document.
    assert echoed["path"] == "/.well-known/oauth-authorization-server"
    assert echoed["query"] == "probe=1"
    headers = dict(echoed["headers"])
    assert headers["x-forwarded-prefix"] == "/api/auth"
    assert headers["x-forwarded-for"] == "203.0.113.7"
    assert head.status_code == 200 and head.content == b""
    assert upstream_state.paths == ["/.well-known/oauth-authorization-server"] * 2


async def test_the_storefront_does_not_hide_it(
    open_gateway: OpenGateway, upstream_url: str, tmp_path: Path
) -> None:
    web = tmp_path / "web"
    web.mkdir()
    (web / "index.html").write_text("<!doctype html><title>shop</title>")
    async with open_gateway(upstreams={"auth": upstream_url}, web_dir=web) as client:
        metadata = await client.get(INSERTED, headers={"Accept": "text/html"})
        page = await client.get("/.well-known/elsewhere", headers={"Accept": "text/html"})

    assert metadata.json()["path"] == "/.well-known/oauth-authorization-server"
    assert page.headers["content-type"].startswith("text/html")


async def test_only_reads_are_served(open_gateway: OpenGateway, upstream_url: str) -> None:
    async with open_gateway(upstreams={"auth": upstream_url}) as client:
        response = await client.post(INSERTED, content=b"{}")

    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"


async def test_without_an_auth_upstream_there_is_no_such_document(
    open_gateway: OpenGateway,
) -> None:
    async with open_gateway() as client:
        response = await client.get(INSERTED)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
