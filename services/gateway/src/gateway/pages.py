"""The gateway's own pages: a landing page and the interactive API docs (Swagger UI)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

LANDING_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Bazaar</title></head>
<body>
<h1>Bazaar</h1>
<ul>
<li><a href="/api/catalog/products">Products</a> (<code>/api/catalog/products</code>)</li>
<li><a href="/api/docs">API documentation</a></li>
<li><a href="/api/openapi.json">OpenAPI document</a></li>
</ul>
</body>
</html>
"""

# Relative URLs, so the page keeps working if the gateway is mounted under a prefix.
DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Bazaar API</title>
<link rel="stylesheet" href="docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/assets/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({url: "openapi.json", dom_id: "#swagger-ui", deepLinking: true});
</script>
</body>
</html>
"""


def swagger_ui_directory() -> Path:
    """Where the swagger-ui-py package keeps Swagger UI's files (no import needed)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


async def landing(_: Request) -> Response:
    """`GET /`."""
    return HTMLResponse(LANDING_PAGE)


async def docs(_: Request) -> Response:
    """`GET /api/docs`: Swagger UI for `/api/openapi.json`."""
    return HTMLResponse(DOCS_PAGE)


def page_routes() -> list[Route | Mount]:
    """The landing page, the docs page and its assets, served by the gateway itself."""
    return [
        Route("/", landing, methods=["GET"]),
        Route("/api/docs", docs, methods=["GET"]),
        Mount(
            "/api/docs/assets", StaticFiles(directory=swagger_ui_directory()), name="docs-assets"
        ),
    ]
