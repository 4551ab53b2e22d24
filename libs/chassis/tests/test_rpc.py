"""The chassis gRPC server and client, with a catalog servicer made for the tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import BaseModel, Field
from sqlalchemy import text

from bazaar.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from chassis.auth import TokenVerifier
from chassis.db import Database
from chassis.errors import BadGateway, GatewayTimeout, NotFound, ServiceUnavailable
from chassis.health import HealthChecks
from chassis.http import ClientPolicy
from chassis.registry import free_port
from chassis.requestid import current_request_id, set_request_id
from chassis.rpc.client import RpcAnswer, RpcClient
from chassis.rpc.server import RpcServer, fields_of, rpc, rpc_principal, rpc_session, validated
from chassis.testing import TokenMinter

SCOPE = "catalog:quote"


class Quote(BaseModel):
    product_ids: Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=1, max_length=3)]


class Servicer(catalog_pb2_grpc.CatalogServicer):
    """Answers from the ids alone; id 404 is unknown, id 999 sleeps past any deadline."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.calls = 0

    @rpc(SCOPE)
    def QuoteProducts(
        self, request: catalog_pb2.QuoteProductsRequest, context: grpc.ServicerContext
    ) -> catalog_pb2.QuoteProductsResponse:
        self.calls += 1
        query = validated(Quote, fields_of(request))
        self.seen.append(
            {
                "subject": rpc_principal().subject,
                "request_id": current_request_id(),
                "one": rpc_session().execute(text("SELECT 1")).scalar_one(),
            }
        )
        if 404 in query.product_ids:
            raise NotFound("No product with id 404.")
        if 999 in query.product_ids:
            time.sleep(0.5)
        return catalog_pb2.QuoteProductsResponse(
            products=[
                catalog_pb2.ProductQuote(id=i, price_amount=100 * i, currency="EUR", active=True)
                for i in query.product_ids
            ]
        )


class Unmarked(catalog_pb2_grpc.CatalogServicer):
    def QuoteProducts(
        self, request: catalog_pb2.QuoteProductsRequest, context: grpc.ServicerContext
    ) -> catalog_pb2.QuoteProductsResponse:
        return catalog_pb2.QuoteProductsResponse()


def _start(servicer: Any, minter: TokenMinter, tmp_path: Path, checks: HealthChecks) -> RpcServer:
    def register(server: grpc.Server) -> list[str]:
        catalog_pb2_grpc.add_CatalogServicer_to_server(servicer, server)
        return ["bazaar.catalog.v1.Catalog"]

    return RpcServer(
        service="catalog",
        db=Database(f"sqlite:///{tmp_path / 'rpc.db'}"),
        verifier=TokenVerifier(
            issuer=minter.issuer, audience=minter.audience, public_key=minter.public_pem
        ),
        health_checks=checks,
        register=register,
        address="127.0.0.1:0",
        threads=4,
        health_interval=0.05,
    ).start()


@pytest.fixture
def checks() -> HealthChecks:
    return HealthChecks()


@pytest.fixture
def servicer() -> Servicer:
    return Servicer()


@pytest.fixture
def server(
    servicer: Servicer, token_minter: TokenMinter, tmp_path: Path, checks: HealthChecks
) -> Iterator[RpcServer]:
    started = _start(servicer, token_minter, tmp_path, checks)
    yield started
    started.stop(0)


def _client(port: int, **policy: Any) -> RpcClient[catalog_pb2_grpc.CatalogStub]:
    return RpcClient(
        f"127.0.0.1:{port}",
        catalog_pb2_grpc.CatalogStub,
        ClientPolicy(name="catalog", read_timeout=policy.pop("timeout", 2.0), **policy),
    )


def _quote(client: RpcClient[Any], *ids: int, token: str | None) -> Any:
    return client.call(
        "QuoteProducts",
        catalog_pb2.QuoteProductsRequest(product_ids=ids),
        idempotent=True,
        authorization=f"Bearer {token}" if token else None,
    )


def test_a_valid_call_is_served_with_the_callers_identity_and_request_id(
    server: RpcServer, servicer: Servicer, token_minter: TokenMinter
) -> None:
    client = _client(server.port)
    set_request_id("req-42")
    try:
        answer = _quote(client, 1, 2, token=token_minter.mint("orders", scopes=(SCOPE,)))
    finally:
        set_request_id(None)
    assert [(p.id, p.price_amount) for p in answer.products] == [(1, 100), (2, 200)]
    assert servicer.seen == [{"subject": "orders", "request_id": "req-42", "one": 1}]


def test_tokens_are_checked_as_on_http(server: RpcServer, token_minter: TokenMinter) -> None:
    client = _client(server.port)
    with pytest.raises(RpcAnswer) as missing:
        _quote(client, 1, token=None)
    assert missing.value.code is grpc.StatusCode.UNAUTHENTICATED
    assert missing.value.reason == "unauthorized"
    with pytest.raises(RpcAnswer) as expired:
        _quote(client, 1, token=token_minter.mint(scopes=(SCOPE,), ttl=-120))
    assert expired.value.code is grpc.StatusCode.UNAUTHENTICATED
    assert expired.value.message == "The token has expired."
    with pytest.raises(RpcAnswer) as foreign:
        _quote(client, 1, token=TokenMinter().mint(scopes=(SCOPE,)))
    assert foreign.value.code is grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(RpcAnswer) as scope:
        _quote(client, 1, token=token_minter.mint(scopes=("catalog:other",)))
    assert scope.value.code is grpc.StatusCode.PERMISSION_DENIED
    assert scope.value.message == f"This needs scope {SCOPE}"


def test_bad_arguments_are_invalid_argument_with_field_violations(
    server: RpcServer, token_minter: TokenMinter
) -> None:
    client = _client(server.port)
    with pytest.raises(RpcAnswer) as caught:
        _quote(client, 1, 0, token=token_minter.mint(scopes=(SCOPE,)))
    assert caught.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.reason == "validation-error"
    assert list(caught.value.field_violations) == ["product_ids.1"]
    with pytest.raises(RpcAnswer) as too_many:
        _quote(client, 1, 2, 3, 4, token=token_minter.mint(scopes=(SCOPE,)))
    assert list(too_many.value.field_violations) == ["product_ids"]


def test_a_problem_keeps_its_code_and_slug(server: RpcServer, token_minter: TokenMinter) -> None:
    with pytest.raises(RpcAnswer) as caught:
        _quote(_client(server.port), 404, token=token_minter.mint(scopes=(SCOPE,)))
    assert caught.value.code is grpc.StatusCode.NOT_FOUND
    assert (caught.value.reason, caught.value.message) == ("not-found", "No product with id 404.")


def test_an_answer_does_not_count_against_the_circuit(
    server: RpcServer, token_minter: TokenMinter
) -> None:
    client = _client(server.port, breaker_fail_max=2)
    for _ in range(3):
        with pytest.raises(RpcAnswer):
            _quote(client, 404, token=token_minter.mint(scopes=(SCOPE,)))
    assert _quote(client, 1, token=token_minter.mint(scopes=(SCOPE,))).products


def test_a_deadline_is_the_callers_and_a_timeout_is_504(
    server: RpcServer, servicer: Servicer, token_minter: TokenMinter
) -> None:
    client = _client(server.port, timeout=0.1, attempts=2)
    with pytest.raises(GatewayTimeout):
        _quote(client, 999, token=token_minter.mint(scopes=(SCOPE,)))
    assert servicer.calls == 2  # an idempotent call is tried again, within the budget


def test_a_call_that_may_not_repeat_is_tried_once(
    server: RpcServer, servicer: Servicer, token_minter: TokenMinter
) -> None:
    client = _client(server.port, timeout=0.1)
    with pytest.raises(GatewayTimeout):
        client.call(
            "QuoteProducts",
            catalog_pb2.QuoteProductsRequest(product_ids=[999]),
            idempotent=False,
            authorization=f"Bearer {token_minter.mint(scopes=(SCOPE,))}",
        )
    assert servicer.calls == 1


def test_an_unmarked_method_is_served_to_nobody(
    token_minter: TokenMinter, tmp_path: Path, checks: HealthChecks
) -> None:
    started = _start(Unmarked(), token_minter, tmp_path, checks)
    try:
        # The upstream's mistake, not the caller's: a 502 problem for the caller's caller.
        with pytest.raises(BadGateway, match="catalog failed: UNIMPLEMENTED"):
            _quote(_client(started.port), 1, token=token_minter.mint(scopes=(SCOPE,)))
    finally:
        started.stop(0)


def test_a_down_upstream_opens_the_circuit(token_minter: TokenMinter) -> None:
    client = _client(free_port(), breaker_fail_max=2, attempts=2)  # nobody listens there
    for _ in range(2):
        with pytest.raises(ServiceUnavailable, match="catalog is unavailable"):
            _quote(client, 1, token=token_minter.mint(scopes=(SCOPE,)))
    with pytest.raises(ServiceUnavailable, match="circuit open"):
        _quote(client, 1, token=token_minter.mint(scopes=(SCOPE,)))


def test_health_follows_readiness(server: RpcServer, checks: HealthChecks) -> None:
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    stub = health_pb2_grpc.HealthStub(channel)
    serving = health_pb2.HealthCheckResponse.SERVING
    for name in ("", "bazaar.catalog.v1.Catalog"):
        assert stub.Check(health_pb2.HealthCheckRequest(service=name)).status == serving
    failing = threading.Event()
    failing.set()

    def database() -> None:
        if failing.is_set():
            raise OSError("down")

    checks.add("database", database)
    deadline = time.monotonic() + 5
    while stub.Check(health_pb2.HealthCheckRequest()).status == serving:
        assert time.monotonic() < deadline, "the health service never said NOT_SERVING"
        time.sleep(0.02)
    failing.clear()
    while stub.Check(health_pb2.HealthCheckRequest()).status != serving:
        assert time.monotonic() < deadline, "the health service never said SERVING again"
        time.sleep(0.02)
    channel.close()
