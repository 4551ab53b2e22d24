"""Idempotency keys: replays, reused keys, requests in flight, and real concurrency."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
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
from chassis.testing import (
    PrivatePostgres,
    TokenMinter,
    fresh_postgres_database,
    problem_of,
    rolled_back,
)


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


def build_app(url: str, public_pem: str, *, pause: Callable[[str], None] | None = None) -> APIFlask:
    """The test app; `pause(note)` runs first in the view (a request that hangs, or dies)."""
    app = create_api_app(
        __name__,
        IdemSettings(env="test", database_url=url, jwt_public_key=public_pem),
        title="idem",
    )
    bp = APIBlueprint("charges", __name__)

    @bp.post("/charges")
    @require_role("customer")
    @idempotent()
    @bp.input(ChargeCreate, arg_name="body")
    @bp.output(ChargeRead, status_code=201)
    def create(body: ChargeCreate) -> Any:
        if pause is not None:
            pause(body.note)
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
    application = build_app(database_url, token_minter.public_pem)
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


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of the test's own: claims are held across connections here."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'idem.db'}"
        return
    with fresh_postgres_database() as url:
        yield url


def test_a_key_in_flight_is_a_409_with_retry_after(
    fresh_url: str, token_minter: TokenMinter, auth: dict[str, str]
) -> None:
    entered, release = threading.Event(), threading.Event()

    def pause(note: str) -> None:
        if note == "hold":
            entered.set()
            assert release.wait(10)

    application = build_app(fresh_url, token_minter.public_pem, pause=pause)
    headers = {**auth, "Idempotency-Key": "k-4"}
    body = {"amount": 5, "note": "hold"}
    first: list[int] = []
    holder = threading.Thread(
        target=lambda: first.append(
            application.test_client().post("/charges", json=body, headers=headers).status_code
        )
    )
    holder.start()
    try:
        assert entered.wait(10)
        response = application.test_client().post("/charges", json=body, headers=headers)
        problem_of(response, 409, "idempotency-key-in-flight")
        assert response.headers["Retry-After"] == "1"
    finally:
        release.set()
        holder.join(10)
    assert first == [201]
    again = application.test_client().post("/charges", json=body, headers=headers)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert charges(application) == 1
    application.extensions["bazaar"].db.dispose()


def test_a_claim_left_by_an_older_release_is_taken_over_at_once(
    app: APIFlask, auth: dict[str, str]
) -> None:
    # Claims were rows with a 60 s lease; a fresh one holds nothing any more.
    _claim_row(app, "k-5", utcnow(), {"amount": 5})
    response = app.test_client().post(
        "/charges", json={"amount": 5}, headers={**auth, "Idempotency-Key": "k-5"}
    )
    assert response.status_code == 201
    assert charges(app) == 1


def hold_a_claim(url: str, public_pem: str, headers: dict[str, str], ready: str) -> None:
    """Run in a child process: claim a key, say so, and hang until killed."""

    def pause(note: str) -> None:
        Path(ready).touch()
        threading.Event().wait()

    application = build_app(url, public_pem, pause=pause)
    application.test_client().post("/charges", json={"amount": 7}, headers=headers)


def test_a_claim_is_taken_over_within_seconds_when_its_holder_is_killed(
    fresh_url: str, token_minter: TokenMinter, auth: dict[str, str], tmp_path: Path
) -> None:
    application = build_app(fresh_url, token_minter.public_pem)  # creates the tables
    headers = {**auth, "Idempotency-Key": "k-killed"}
    ready = tmp_path / "holding"
    code = (
        "import importlib.util, json, sys\n"
        "spec = importlib.util.spec_from_file_location('idem_child', sys.argv[1])\n"
        "module = sys.modules['idem_child'] = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "module.hold_a_claim(sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), sys.argv[5])\n"
    )
    child = subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", code, __file__, fresh_url, token_minter.public_pem,
         json.dumps(headers), str(ready)],
        env={**os.environ, "BAZAAR_LOG_LEVEL": "WARNING"},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert child.poll() is None, "the holder exited"
            assert time.monotonic() < deadline, "the holder never claimed the key"
            time.sleep(0.02)
        client = application.test_client()
        problem_of(client.post("/charges", json={"amount": 7}, headers=headers), 409)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    killed = time.monotonic()
    statuses = []
    while time.monotonic() - killed < 10:
        response = client.post("/charges", json={"amount": 7}, headers=headers)
        statuses.append(response.status_code)
        if response.status_code != 409:
            break
        time.sleep(0.1)
    waited = time.monotonic() - killed
    assert statuses[-1] == 201, statuses
    assert waited < 3, f"the dead holder's claim lasted {waited:.1f} s"
    assert charges(application) == 1
    application.extensions["bazaar"].db.dispose()


def test_a_claim_is_released_when_the_database_restarts_mid_request(
    private_postgres: PrivatePostgres, token_minter: TokenMinter, auth: dict[str, str]
) -> None:
    url = private_postgres.new_database()
    stopped: list[bool] = []

    def pause(note: str) -> None:
        if note == "outage" and not stopped:
            # The server goes away under the request: its writes, its rollback and any
            # clean-up that needs the database all fail.
            stopped.append(True)
            private_postgres.stop()

    application = build_app(url, token_minter.public_pem, pause=pause)
    headers = {**auth, "Idempotency-Key": "k-outage"}
    client = application.test_client()
    body = {"amount": 3, "note": "outage"}
    first = client.post("/charges", json=body, headers=headers)
    assert first.status_code >= 500
    private_postgres.start()
    retried = client.post("/charges", json=body, headers=headers)
    assert retried.status_code == 201, retried.get_json()
    assert charges(application) == 1
    application.extensions["bazaar"].db.dispose()


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
        application = build_app(url, token_minter.public_pem)
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
