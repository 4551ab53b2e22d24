"""Product pictures: SVG and WebP renditions at hashed URLs, cached for good, 404 otherwise."""

from __future__ import annotations

import io

import pytest
from flask.testing import FlaskClient
from PIL import Image

from catalog.images.pictures import PUBLIC_PREFIX, WIDTHS, picture
from catalog.seed import demo_catalog
from chassis.testing import problem_of

NAME = "nordic-camp-lantern"


def local(url: str) -> str:
    """The catalog's own path for a public picture URL (the gateway strips /api/catalog)."""
    assert url.startswith(PUBLIC_PREFIX)
    return "/images/" + url.removeprefix(PUBLIC_PREFIX)


def test_every_demo_product_has_a_picture_of_its_own() -> None:
    _, products = demo_catalog()
    urls = [p.image_url for p in products]
    assert all(urls), [p.slug for p in products if not p.image_url]
    assert len(set(urls)) == len(products)


def test_the_svg_is_served_with_an_immutable_cache_lifetime(client: FlaskClient) -> None:
    drawn = picture(NAME)
    assert drawn is not None

    response = client.get(local(drawn.url))

    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert response.data.decode().startswith("<svg")
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.headers["ETag"] == f'"{drawn.digest}"'


@pytest.mark.parametrize("width", WIDTHS)
def test_webp_renditions_are_as_wide_as_their_name_says(client: FlaskClient, width: int) -> None:
    drawn = picture(NAME)
    assert drawn is not None

    response = client.get(local(drawn.url).replace(".svg", f".{width}w.webp"))

    assert response.status_code == 200
    assert response.mimetype == "image/webp"
    image = Image.open(io.BytesIO(response.data))
    assert (image.format, image.size) == ("WEBP", (width, width))
    assert "immutable" in response.headers["Cache-Control"]


def test_a_known_etag_is_answered_304(client: FlaskClient) -> None:
    drawn = picture(NAME)
    assert drawn is not None

    response = client.get(local(drawn.url), headers={"If-None-Match": f'"{drawn.digest}"'})

    assert response.status_code == 304
    assert response.data == b""


@pytest.mark.parametrize(
    "filename",
    [
        f"{NAME}.000000000000.svg",  # a former drawing's digest
        "nordic-spaceship.000000000000.svg",  # no such picture
        "{name}.{digest}.500w.webp",  # a width the storefront never asks for
        "{name}.{digest}.png",
        "..%2f..%2fetc.svg",
    ],
)
def test_anything_else_is_a_404_problem(client: FlaskClient, filename: str) -> None:
    drawn = picture(NAME)
    assert drawn is not None

    response = client.get("/images/" + filename.format(name=NAME, digest=drawn.digest))

    assert problem_of(response, 404)["type"] == "/problems/not-found"
