"""The merged OpenAPI document tells the truth: schemathesis over the gateway finds nothing.

Every phase (examples, coverage, fuzzing, the stateful phase over the document's links) and
every default check, positive and negative data acceptance included, against a platform
of its own, with real tokens. The gateway's rate limits are off there: they would answer
most of the run with 429 and leave the services behind them untested (their own tests
cover them); password hashing is cheap and status streams short, for speed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import Platform, bearer, launch

pytestmark = pytest.mark.system

HERE = Path(__file__).parent
CONFIG = HERE / "fuzz.toml"
HOOKS = HERE / "fuzz_hooks.py"
SORTS = ("newest", "price_asc", "price_desc", "name")
FUZZ_SETTINGS = {
    "BAZAAR_GATEWAY_RATE_LIMITS_ENABLED": "false",
    # Hundreds of sign-ups and logins: the cheapest hashing auth allows outside production.
    "BAZAAR_AUTH_ARGON2_MEMORY_KIB": "1024",
    "BAZAAR_AUTH_ARGON2_TIME_COST": "1",
    # A status stream of an open order stays open this long: the run waits for each one.
    "BAZAAR_ORDERS_STREAM_MAX_SECONDS": "1",
}


@pytest.fixture(scope="module")
def fuzz_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The platform with the gateway's rate limits off."""
    with launch(tmp_path_factory.mktemp("fuzz"), FUZZ_SETTINGS) as running:
        yield running


def bazaar(platform: Platform, *args: str) -> str:
    """Run a `bazaar` command against the platform; its output."""
    return subprocess.run(
        [sys.executable, "-m", "chassis.cli", *args],
        env=platform.env, cwd=platform.log.parent, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip


def token(platform: Platform, **form: str) -> str:
    """An access token from the platform's token endpoint."""
    response = httpx.post(platform.gateway + "/api/auth/token", data=form)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def signed_up(platform: Platform, name: str) -> dict[str, str]:
    """A new customer's Authorization header."""
    email = f"{name}-{uuid.uuid4().hex[:10]}@example.com"
    password = "a passphrase nobody uses " + uuid.uuid4().hex[:8]
    response = httpx.post(
        platform.gateway + "/api/auth/register",
        json={"email": email, "password": password, "display_name": name.title()},
    )
    assert response.status_code == 201, response.text
    return bearer(platform, email, password)


def next_cursor(client: httpx.Client, path: str, **params: str) -> str:
    """The cursor of a list's second page."""
    response = client.get(path, params={"limit": "1", **params})
    assert response.status_code == 200, response.text
    cursor = response.json()["next_cursor"]
    assert isinstance(cursor, str), f"{path} has a single page"
    return cursor


def paid(api: httpx.Client, order_id: str) -> str:
    """The id of the order's payment, once the saga has made it."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        response = api.get("/api/payments/payments", params={"order_id": order_id})
        if response.status_code == 200:
            return str(response.json()["id"])
        time.sleep(0.2)
    raise AssertionError(f"order {order_id} has no payment: {response.text}")


def fuzz_environment(platform: Platform) -> dict[str, str]:
    """Tokens and existing resources for fuzz.toml and fuzz_hooks.py."""
    email, password = "fuzz-admin@bazaar.test", "a long and unusual admin passphrase 7"
    bazaar(platform, "users", "create-admin", email, "--password", password)
    admin = bearer(platform, email, password)
    client_id = "fuzz-" + uuid.uuid4().hex[:8]
    output = bazaar(platform, "auth", "create-client", client_id, "--scope", "users:write")
    secret = next(line.split(": ", 1)[1] for line in output.splitlines() if "secret:" in line)
    service = token(
        platform, grant_type="client_credentials", client_id=client_id, client_secret=secret
    )
    leaving = signed_up(platform, "leaving")
    with httpx.Client(base_url=platform.gateway, headers=admin, timeout=30) as api:
        address = api.post(
            "/api/users/me/addresses",
            json={"name": "Fuzz Admin", "line1": "1 Main Street", "city": "Lisbon",
                  "postal_code": "1000-001", "country": "PT"},
        )  # fmt: skip
        assert address.status_code == 201, address.text
        card = api.post(
            "/api/payments/methods",
            json={"card_number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2099,
                  "cvc": "123"},
        )  # fmt: skip
        assert card.status_code == 201, card.text
        ids = {"address_id": address.json()["id"], "payment_method_id": card.json()["id"]}
        orders = []
        for _ in range(2):  # two orders: a second page of them, and its cursor
            assert api.put("/api/orders/cart/items/1", json={"quantity": 1}).status_code == 200
            placed = api.post(
                "/api/orders/", json=ids, headers={"Idempotency-Key": uuid.uuid4().hex}
            )
            assert placed.status_code in (201, 202), placed.text
            orders.append(placed.json()["id"])
        payment = paid(api, orders[0])
        categories = [c["slug"] for c in api.get("/api/catalog/categories").json()["items"]]
        cursors = {
            "/api/catalog/products": {
                sort: next_cursor(api, "/api/catalog/products", sort=sort) for sort in SORTS
            },
            "/api/orders/": {"": next_cursor(api, "/api/orders/")},
            "/api/users/": {"": next_cursor(api, "/api/users/")},
        }
    fixtures = {"cursors": cursors, "categories": categories, **ids,
                "order_id": orders[0], "payment_id": payment,
                "client": {"client_id": "storefront",
                           "redirect_uri": platform.gateway + "/auth/callback"}}  # fmt: skip
    return {
        "BAZAAR_FUZZ_HOOKS": str(HOOKS),
        "BAZAAR_FUZZ_ADMIN_TOKEN": admin["Authorization"].removeprefix("Bearer "),
        "BAZAAR_FUZZ_LOGOUT_TOKEN": leaving["Authorization"].removeprefix("Bearer "),
        "BAZAAR_FUZZ_SERVICE_TOKEN": service,
        "BAZAAR_FUZZ_FIXTURES": json.dumps(fixtures),
    }


@pytest.mark.timeout(900)  # about two minutes on an idle machine; shared ones are slower
def test_schemathesis_finds_the_merged_document_true(
    fuzz_platform: Platform, tmp_path: Path
) -> None:
    env = {**os.environ, **fuzz_environment(fuzz_platform)}
    gateway = fuzz_platform.gateway
    st = Path(sys.executable).with_name("st")
    run = subprocess.run(
        [str(st), "--no-color", "--config-file", str(CONFIG), "run",
         gateway + "/api/openapi.json", "--url", gateway],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    report = run.stdout + run.stderr
    assert run.returncode == 0, report[-20000:]
    selected = re.search(r"Operations:\s+(\d+) selected / (\d+) total", report)
    assert selected, report[-5000:]
    assert selected[1] == selected[2], "every operation is tested"
