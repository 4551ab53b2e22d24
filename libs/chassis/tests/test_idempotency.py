"""Idempotency keys: replays, reused keys, requests in flight, and real concurrency."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from apiflask import APIBlueprint, APIFlask
from pydantic import Field
from sqlalchemy import String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from chassis.db import utcnow
from chassis.flaskapp import create_api_app, db_session, require_role
from chassis.idempotency import IDEMPOTENCY_KEYS, add_idempotency_table, idempotent
from chassis.schemas import Model
from chassis.settings import ServiceSettings
from chassis.testing import TokenMinter, fresh_postgres_database, problem_of, rolled_back


class IdemSettings(ServiceSettings):
    service_name = "idem"


class Base(DeclarativeBase):
    pass


add_idempotency_table(Base.metadata)


class Charge(Base):
    __tablename__ = "chassis_test_charges"

    id: Mapped[int] = mapped_column(primary_key=True)
    amount: Mapped[int]
    note: Mapped[str] = mapped_column(String(50))


class ChargeCreate(Model):
    amount: int = Field(ge=1)
    note: str = Field(default="", max_length=50)


class ChargeRead(Model):
    id: int
    amount: int


def build_app(url: str, minter: TokenMinter) -> APIFlask:
    app = create_api_app(
        __name__,
        IdemSettings(env="test", database_url=url, jwt_public_key=minter.public_pem),
        title="idem",
    )
    bp = APIBlueprint("charges", __name__)

    @bp.post("/charges")
    @require_role("customer")
    @idempotent()
    @bp.input(ChargeCreate, arg_name="body")
    @bp.output(ChargeRead, status_code=201)
    def create(body: ChargeCreate) -> Any:
        if body.note == "slow":
            threading.Event().wait(0.3)
        charge = Charge(amount=body.amount, note=body.note)
        db_session().add(charge)
        db_session().flush()
        return ChargeRead(id=charge.id, amount=charge.amount), 201, {"Location": f"/c/{charge.id}"}

    app.register_blueprint(bp)
    Base.metadata.create_all(app.extensions["bazaar"].db.engine)
    return app


@pytest.fixture
def app(database_url: str, token_minter: TokenMinter) -> Iterator[APIFlask]:
    application = build_app(database_url, token_minter)
    with rolled_back(application):
        yield application


@pytest.fixture
def auth(token_minter: TokenMinter) -> dict[str, str]:
    return token_minter.auth("buyer-1", roles=("customer",))


def charges(app: APIFlask) -> int:
    with app.extensions["bazaar"].db.session() as session:
        return len(session.scalars(select(Charge)).all())


def test_a_missing_key_is_a_400(app: APIFlask, auth: dict[str, str]) -> None:
    response = app.test_client().post("/charges", json={"amount": 5}, headers=auth)
    problem_of(response, 400, "idempotency-key-missing")
    assert charges(app) == 0


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9"])
def test_a_malformed_key_is_a_400(app: APIFlask, auth: dict[str, str], key: str) -> None:
    headers = {**auth, "Idempotency-Key": key}
    response = app.test_client().post("/charges", json={"amount": 5}, headers=headers)
    assert response.status_code == 400


def test_a_replay_returns_the_first_answer_and_acts_once(
    app: APIFlask, auth: dict[str, str]
) -> None:
    client = app.test_client()
    headers = {**auth, "Idempotency-Key": "k-1"}
    first = client.post("/charges", json={"amount": 5}, headers=headers)
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    # Key order and whitespace do not make it another request.
    again = client.post(
        "/charges", data='{ "amount" : 5 }', content_type="application/json", headers=headers
    )
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert charges(app) == 1


def test_the_same_key_with_another_body_is_a_422(app: APIFlask, auth: dict[str, str]) -> None:
    client = app.test_client()
    headers = {**auth, "Idempotency-Key": "k-2"}
    assert client.post("/charges", json={"amount": 5}, headers=headers).status_code == 201
    response = client.post("/charges", json={"amount": 6}, headers=headers)
    problem_of(response, 422, "idempotency-key-reused")
    assert charges(app) == 1


def test_keys_belong_to_their_caller(
    app: APIFlask, auth: dict[str, str], token_minter: TokenMinter
) -> None:
    client = app.test_client()
    other = token_minter.auth("buyer-2", roles=("customer",))
    body = {"amount": 5}
    assert (
        client.post("/charges", json=body, headers={**auth, "Idempotency-Key": "k"}).status_code
        == 201
    )
    second = client.post("/charges", json=body, headers={**other, "Idempotency-Key": "k"})
    assert second.status_code == 201
    assert "Idempotent-Replayed" not in second.headers
    assert charges(app) == 2


def test_a_failed_request_does_not_keep_the_key(app: APIFlask, auth: dict[str, str]) -> None:
    client = app.test_client()
    headers = {**auth, "Idempotency-Key": "k-3"}
    problem_of(client.post("/charges", json={"amount": 0}, headers=headers), 422)
    fixed = client.post("/charges", json={"amount": 1}, headers=headers)
    assert fixed.status_code == 201
    assert charges(app) == 1


def _claim_row(app: APIFlask, key: str, locked_at: dt.datetime, body: dict[str, Any]) -> None:
    import hashlib
    import json

    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    fingerprint = hashlib.sha256(b"POST /charges\n" + canonical).hexdigest()
    with app.extensions["bazaar"].db.session() as session:
        session.execute(
            sa.insert(IDEMPOTENCY_KEYS).values(
                scope="buyer-1:charges.create",
                key=key,
                fingerprint=fingerprint,
                state="in_flight",
                created_at=locked_at,
                locked_at=locked_at,
            )
        )


def test_a_key_in_flight_is_a_409_with_retry_after(app: APIFlask, auth: dict[str, str]) -> None:
    _claim_row(app, "k-4", utcnow(), {"amount": 5})
    response = app.test_client().post(
        "/charges", json={"amount": 5}, headers={**auth, "Idempotency-Key": "k-4"}
    )
    problem_of(response, 409, "idempotency-key-in-flight")
    assert response.headers["Retry-After"] == "1"
    assert charges(app) == 0


def test_a_key_abandoned_by_a_crashed_request_is_taken_over(
    app: APIFlask, auth: dict[str, str]
) -> None:
    _claim_row(app, "k-5", utcnow() - dt.timedelta(minutes=5), {"amount": 5})
    response = app.test_client().post(
        "/charges", json={"amount": 5}, headers={**auth, "Idempotency-Key": "k-5"}
    )
    assert response.status_code == 201
    assert charges(app) == 1


def test_the_header_is_in_the_openapi_document(app: APIFlask) -> None:
    operation = app.spec["paths"]["/charges"]["post"]
    (parameter,) = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
    assert parameter["in"] == "header"
    assert parameter["required"] is True
    assert {"400", "409", "422"} <= set(operation["responses"])
    assert "x-idempotent" not in operation


def test_twenty_concurrent_requests_with_one_key_act_once_on_postgresql(
    token_minter: TokenMinter,
) -> None:
    with fresh_postgres_database() as url:
        application = build_app(url, token_minter)
        auth = token_minter.auth("buyer-1", roles=("customer",))
        headers = {**auth, "Idempotency-Key": "together"}
        statuses: list[int] = []
        bodies: list[Any] = []
        barrier = threading.Barrier(20)

        def attempt() -> None:
            client = application.test_client()
            barrier.wait()
            response = client.post("/charges", json={"amount": 9, "note": "slow"}, headers=headers)
            statuses.append(response.status_code)
            if response.status_code == 201:
                bodies.append(response.get_json())

        threads = [threading.Thread(target=attempt) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert charges(application) == 1
        assert set(statuses) <= {201, 409}
        assert statuses.count(201) >= 1
        assert all(body == bodies[0] for body in bodies)
        application.extensions["bazaar"].db.dispose()
