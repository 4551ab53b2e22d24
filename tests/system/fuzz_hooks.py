"""Schemathesis hooks for the gateway fuzz run (`fuzz.toml`).

Some rules cannot be written in JSON Schema, so a request the document calls valid may still
be refused for them: a cursor's signature, a card number's Luhn digit, the list of common
passwords, a body naming a category, address or card that does not exist, an authorization
request from a client that is not registered (or to a redirect URI it did not register).
Before each call a schema-valid value of that kind becomes one that also keeps those rules,
as a real client's would; a value the generator made invalid on purpose is left alone, so the
negative cases still test the schemas.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from typing import Any

import schemathesis

from auth.credentials.passwords import MAX_LENGTH, MIN_LENGTH, common_passwords
from chassis.schemas import CURSOR_PATTERN

# What exists on the platform under test, as JSON (written by the test before the run):
# {"cursors": {"<path>": {"<sort, or empty>": "<a next_cursor>"}}, "categories": [slug],
#  "address_id": ..., "payment_method_id": ..., "order_id": ..., "payment_id": ...,
#  "client": {"client_id": ..., "redirect_uri": ...}}
FIXTURES_ENV = "BAZAAR_FUZZ_FIXTURES"
CARD_PATTERN = re.compile(r"^[0-9](?:[ -]*[0-9]){11,18}$")
SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
FOREIGN_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TEXT_ID = re.compile(r"[^\x00-\x1f\x7f]{1,64}")
PRODUCT_PATHS = ("/api/catalog/products", "/api/catalog/products/{product_id}")
# Payments are made by the order saga, never by a call in the document: real ids for these.
PAYMENT_PATHS = (
    "/api/payments/payments/{payment_id}",
    "/api/payments/payments/{payment_id}/refunds",
)


def _fixtures() -> dict[str, Any]:
    return dict(json.loads(os.environ.get(FIXTURES_ENV, "{}")))


def luhn_completed(number: str) -> str:
    """`number` with its last digit replaced by the Luhn check digit of the others."""
    digits = [int(c) for c in number if c.isdigit()][:-1]
    total = 0
    for position, value in enumerate(reversed(digits)):
        if position % 2 == 0:  # doubled: the check digit will sit to their right
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    check = str((10 - total % 10) % 10)
    last = max(i for i, c in enumerate(number) if c.isdigit())
    return number[:last] + check + number[last + 1 :]


def _accepted_password(password: str, email: Any) -> bool:
    folded = password.strip().lower()
    local = email.partition("@")[0].strip().lower() if isinstance(email, str) else None
    return folded not in common_passwords() and folded != local


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """Give schema-valid cursors, card numbers and passwords the rules the schema can't state."""
    path = case.operation.path
    fixtures = _fixtures()
    query = case.query
    if isinstance(query, dict) and isinstance(query.get("cursor"), str):
        known = fixtures.get("cursors", {}).get(path, {})
        sort = str(query.get("sort", "newest")) if path == "/api/catalog/products" else ""
        if re.fullmatch(CURSOR_PATTERN, query["cursor"]) and sort in known:
            query["cursor"] = known[sort]
    order_id = query.get("order_id") if isinstance(query, dict) else None
    if (
        path == "/api/payments/payments"
        and isinstance(order_id, str)
        and TEXT_ID.fullmatch(order_id)
    ):
        query["order_id"] = fixtures["order_id"]
    if path == "/api/auth/authorize" and case.method.upper() == "GET":
        # RFC 6749 §4.1.2.1: an unknown client or redirect URI is told off, never redirected.
        if case.query is None:
            case.query = {}
        for name, value in fixtures["client"].items():
            if name not in case.query or isinstance(case.query[name], str):
                case.query[name] = value
        query = case.query
    params = case.path_parameters
    payment_id = params.get("payment_id") if isinstance(params, dict) else None
    if path in PAYMENT_PATHS and isinstance(payment_id, str) and TEXT_ID.fullmatch(payment_id):
        params["payment_id"] = fixtures["payment_id"]
    body = case.body
    if not isinstance(body, dict):
        return
    category = body.get("category")
    if path in PRODUCT_PATHS and isinstance(category, str) and SLUG_PATTERN.match(category):
        slugs = fixtures["categories"]
        body["category"] = slugs[len(category) % len(slugs)]
    if path == "/api/orders/" and case.method.upper() == "POST":
        for name in ("address_id", "payment_method_id"):
            value = body.get(name)
            if isinstance(value, str) and FOREIGN_ID_PATTERN.match(value):
                body[name] = fixtures[name]
    number = body.get("card_number")
    if path == "/api/payments/methods" and isinstance(number, str) and CARD_PATTERN.match(number):
        body["card_number"] = luhn_completed(number)
    password = body.get("password")
    if (
        path == "/api/auth/register"
        and isinstance(password, str)
        and MIN_LENGTH <= len(password) <= MAX_LENGTH
        and not _accepted_password(password, body.get("email"))
    ):
        body["password"] = (uuid.uuid4().hex * 8)[: len(password)]
