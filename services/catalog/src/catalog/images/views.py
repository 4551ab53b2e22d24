"""Product pictures: `/images/<name>.<digest>.svg` and its WebP renditions, cached for good."""

from __future__ import annotations

import re

from apiflask import APIBlueprint
from flask import Response, request

from catalog.images.pictures import WIDTHS, picture, webp
from chassis.errors import NotFound

bp = APIBlueprint("images", __name__, tag="Images")

_FILENAME = re.compile(
    r"^(?P<name>[a-z]+(?:-[a-z]+)+)\.(?P<digest>[0-9a-f]{12})"
    r"(?:\.(?P<width>[0-9]{3,4})w\.webp|\.svg)$"
)
# The URL names the exact bytes (the digest), so a browser or cache may keep them forever.
IMMUTABLE = "public, max-age=31536000, immutable"


@bp.get("/images/<filename>")
@bp.doc(hide=True)  # files, like the storefront's assets: not API operations
def get_image(filename: str) -> Response:
    """A picture as SVG, or as WebP at one of the widths the storefront's `srcset` lists."""
    match = _FILENAME.match(filename)
    found = picture(match["name"]) if match else None
    if match is None or found is None or match["digest"] != found.digest:
        raise NotFound("There is no such picture (an old digest names a former drawing).")
    etag = match["digest"] + (f"-{match['width']}" if match["width"] else "")
    if request.if_none_match.contains(etag):
        return Response(status=304, headers={"ETag": f'"{etag}"', "Cache-Control": IMMUTABLE})
    if match["width"] is None:
        body, mimetype = found.svg.encode(), "image/svg+xml"
    else:
        width = int(match["width"])
        rendered = webp(found.name, width) if width in WIDTHS else None
        if rendered is None:
            raise NotFound(f"Pictures come {', '.join(map(str, WIDTHS))} pixels wide.")
        body, mimetype = rendered, "image/webp"
    response = Response(body, mimetype=mimetype)
    response.headers["Cache-Control"] = IMMUTABLE
    response.headers["ETag"] = f'"{etag}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
