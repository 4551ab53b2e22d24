"""`/api/faults`: the operator's fault flags over HTTP, for admins only (never in production).

The gateway answers these itself: the flags belong to the whole platform, not to one
service. They stay out of the API document, so a fuzzer of the public API never flips them.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chassis import faults
from chassis.auth import Principal, TokenVerifier
from chassis.errors import BadRequest, Forbidden, Unauthorized, ValidationFailed
from gateway.tokens import verify_bearer


def _item(name: str, value: float) -> dict[str, Any]:
    fault = faults.FAULTS[name]
    return {
        "name": name,
        "kind": fault.kind,
        "description": fault.description,
        "maximum": fault.maximum,
        "value": value,
        "active": value != 0,
    }


def fault_routes(verifier: TokenVerifier | None) -> list[Route]:
    """GET /api/faults; PUT and DELETE /api/faults/{name}; DELETE /api/faults (all off)."""

    async def admin(request: Request) -> Principal:
        authorizations = [v for k, v in request.headers.raw if k == b"authorization"]
        principal = await verify_bearer(verifier, authorizations)
        if principal is None:
            raise Unauthorized("An admin's bearer token is required.")
        if not principal.has_role("admin"):
            raise Forbidden("Only admins may read or set fault flags.")
        return principal

    async def list_faults(request: Request) -> Response:
        await admin(request)
        values = await run_in_threadpool(faults.current().all)
        return JSONResponse({"items": [_item(n, v) for n, v in values.items()]})

    async def set_fault(request: Request) -> Response:
        principal = await admin(request)
        name = request.path_params["name"]
        faults.fault_named(name)  # an unknown name is a 404 before the body is judged
        try:
            body = json.loads(await request.body())
        except ValueError as exc:
            raise BadRequest(f"The body is not JSON: {exc}.") from exc
        if not isinstance(body, dict) or "value" not in body:
            raise ValidationFailed('The body is {"value": ...}: on/off, a share, or ms.')
        value = await run_in_threadpool(
            faults.current().set, name, body["value"], by=f"admin:{principal.subject}"
        )
        return JSONResponse(_item(name, value))

    async def clear_fault(request: Request) -> Response:
        principal = await admin(request)
        name = request.path_params["name"]
        value = await run_in_threadpool(
            faults.current().set, name, 0, by=f"admin:{principal.subject}"
        )
        return JSONResponse(_item(name, value))

    async def clear_all(request: Request) -> Response:
        principal = await admin(request)
        await run_in_threadpool(faults.current().clear, by=f"admin:{principal.subject}")
        return Response(status_code=204)

    return [
        Route("/api/faults", list_faults, methods=["GET"], name="faults"),
        Route("/api/faults", clear_all, methods=["DELETE"], name="faults-clear"),
        Route("/api/faults/{name}", set_fault, methods=["PUT"], name="fault-set"),
        Route("/api/faults/{name}", clear_fault, methods=["DELETE"], name="fault-clear"),
    ]
