"""The gateway's own pages: the storefront (or a landing page), and the API docs (Swagger UI).

The storefront is the React app built into `web/dist` (docs/storefront.md). Vite names every
file under `assets/` after a hash of its content, so those are cached for a year; `index.html`
names the current ones and is revalidated on every visit. Any other page (`/orders/ord_…`) is
the app's own route: a browser navigating there gets `index.html`, which draws it.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from starlette.datastructures import Headers, URLPath
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Match, Mount, NoMatchFound, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

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


IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
# The app's code comes from the gateway only, so an injected script or a framing page cannot
# run in it; the access token lives in its memory. Product images may be on any HTTPS host.
STOREFRONT_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
        "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def source_web_dir() -> Path | None:
    """`web/dist` of the source checkout the gateway runs from, if the app was built."""
    for folder in Path(__file__).resolve().parents:
        if (folder / "web" / "package.json").is_file():
            built = folder / "web" / "dist"
            return built if (built / "index.html").is_file() else None
    return None  # installed from a wheel: no checkout around it


class StorefrontFiles(StaticFiles):
    """The built app's files with their caching headers: hashed assets forever, others never."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        """The file (or 304), with Cache-Control by where it lives."""
        response = super().file_response(full_path, stat_result, scope, status_code)
        relative = Path(full_path).relative_to(self.directory or "")
        hashed = relative.parts[0] == "assets"
        response.headers["Cache-Control"] = IMMUTABLE if hashed else REVALIDATE
        if relative.suffix == ".html":
            response.headers.update(STOREFRONT_HEADERS)
        return response


def _accepts_html(scope: Scope) -> bool:
    """Whether the client asked for an HTML page (a browser's navigation does; fetch does not)."""
    for media_range in Headers(scope=scope).get("accept", "").split(","):
        media_type, *parameters = (part.strip() for part in media_range.split(";"))
        if media_type.lower() != "text/html":
            continue
        weights = [p.partition("=")[2] for p in parameters if p.lower().startswith("q=")]
        try:
            return not weights or float(weights[0]) > 0
        except ValueError:
            return False
    return False


def _is_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


class Storefront(BaseRoute):
    """Every path outside `/api`: a file of the built app, else `index.html` for a page."""

    def __init__(self, directory: Path) -> None:
        self.files = StorefrontFiles(directory=directory)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """GET and HEAD outside `/api` fully; other methods partly (a 405)."""
        if scope["type"] != "http" or _is_api(scope["path"]):
            return Match.NONE, {}
        return (Match.FULL if scope["method"] in ("GET", "HEAD") else Match.PARTIAL), {}

    def url_path_for(self, name: str, /, **path_params: object) -> URLPath:
        """Nothing here is reversed by name."""
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the file, or the app's page, or a 404 / 405 problem."""
        if scope["method"] not in ("GET", "HEAD"):
            raise HTTPException(status_code=405, headers={"Allow": "GET, HEAD"})
        path = scope["path"].lstrip("/")
        if path in ("", "index.html"):
            response = await self.files.get_response("index.html", scope)
        else:
            try:
                response = await self.files.get_response(path, scope)
            except HTTPException as exc:
                # A missing asset stays a 404: HTML in place of a script breaks the page.
                if exc.status_code != 404 or path.startswith("assets/") or not _accepts_html(scope):
                    raise
                response = await self.files.get_response("index.html", scope)
        await response(scope, receive, send)


def page_routes(web_dir: Path | None = None) -> list[BaseRoute]:
    """The storefront (or, when it is not built, the landing page), the docs page and its assets.

    `web_dir` is the built app (`web/dist`); by default the source checkout's, if built.
    """
    web_dir = web_dir or source_web_dir()
    storefront: BaseRoute = (
        Storefront(web_dir)
        if web_dir is not None and (web_dir / "index.html").is_file()
        else Route("/", landing, methods=["GET"])
    )
    return [
        Route("/api/docs", docs, methods=["GET"]),
        Mount(
            "/api/docs/assets", StaticFiles(directory=swagger_ui_directory()), name="docs-assets"
        ),
        storefront,  # last: the storefront answers every path outside /api
    ]
