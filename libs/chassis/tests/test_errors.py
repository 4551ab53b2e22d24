"""Problem details: the document's shape and each error's status and slug."""

from __future__ import annotations

import pytest

from chassis.errors import (
    PROBLEM_TYPE_BASE,
    BadGateway,
    BadRequest,
    Conflict,
    Forbidden,
    GatewayTimeout,
    InvalidCursor,
    NotFound,
    PayloadTooLarge,
    ProblemError,
    ServiceUnavailable,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
    problem_body,
    problem_type,
    slug_for_status,
)


def test_problem_body_has_every_rfc9457_member() -> None:
    body = problem_body(
        404, slug="product-missing", title="No such product", detail="id 7", instance="/p/7"
    )

    assert body == {
        "type": "/problems/product-missing",
        "title": "No such product",
        "status": 404,
        "detail": "id 7",
        "instance": "/p/7",
    }


def test_problem_body_defaults_slug_and_title_from_status_and_omits_empty_members() -> None:
    body = problem_body(405)

    assert body == {
        "type": "/problems/method-not-allowed",
        "title": "Method Not Allowed",
        "status": 405,
    }


def test_problem_body_merges_extra_members() -> None:
    body = problem_body(422, extra={"errors": [{"field": "name"}]})

    assert body["errors"] == [{"field": "name"}]
    assert body["status"] == 422


def test_unknown_status_gets_a_generic_slug_and_title() -> None:
    assert slug_for_status(418) == "http-418"
    assert problem_body(599)["title"] == "Error"


def test_problem_type_is_under_the_problem_base() -> None:
    assert problem_type("conflict") == PROBLEM_TYPE_BASE + "conflict"


@pytest.mark.parametrize(
    ("error_class", "status", "slug"),
    [
        (ProblemError, 500, "internal-error"),
        (BadRequest, 400, "bad-request"),
        (InvalidCursor, 400, "invalid-cursor"),
        (ValidationFailed, 422, "validation-error"),
        (Unauthorized, 401, "unauthorized"),
        (Forbidden, 403, "forbidden"),
        (NotFound, 404, "not-found"),
        (Conflict, 409, "conflict"),
        (PayloadTooLarge, 413, "payload-too-large"),
        (UnsupportedMediaType, 415, "unsupported-media-type"),
        (BadGateway, 502, "bad-gateway"),
        (ServiceUnavailable, 503, "service-unavailable"),
        (GatewayTimeout, 504, "gateway-timeout"),
    ],
)
def test_each_error_knows_its_status_and_slug(
    error_class: type[ProblemError], status: int, slug: str
) -> None:
    problem = error_class("details").to_problem(instance="/x")

    assert error_class.status == status
    assert problem["status"] == status
    assert problem["type"] == f"/problems/{slug}"
    assert problem["title"] == error_class.title
    assert problem["detail"] == "details"
    assert problem["instance"] == "/x"


def test_a_service_error_subclass_inherits_the_status_and_sets_its_own_slug() -> None:
    class OutOfStock(Conflict):
        slug, title = "out-of-stock", "Out of stock"

    problem = OutOfStock("only 2 left", extra={"available": 2}).to_problem()

    assert problem == {
        "type": "/problems/out-of-stock",
        "title": "Out of stock",
        "status": 409,
        "detail": "only 2 left",
        "available": 2,
    }


def test_error_without_detail_uses_its_title_as_message_and_omits_detail() -> None:
    error = NotFound()

    assert str(error) == "Not Found"
    assert "detail" not in error.to_problem()


def test_unauthorized_carries_www_authenticate() -> None:
    assert Unauthorized().headers == {"WWW-Authenticate": 'Bearer realm="bazaar"'}


def test_unauthorized_keeps_a_caller_supplied_challenge() -> None:
    challenge = 'Bearer realm="bazaar", error="invalid_token"'

    error = Unauthorized("expired", headers={"WWW-Authenticate": challenge})

    assert error.headers["WWW-Authenticate"] == challenge


def test_other_errors_carry_no_headers_by_default() -> None:
    assert Forbidden().headers == {}
