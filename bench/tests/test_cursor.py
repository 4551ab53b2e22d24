"""The deep keyset cursor is the one the catalog itself would hand out."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bench.cursor import deep_cursor, newest_cursor, row_key
from bench.seed import seed_catalog
from catalog import create_app
from catalog.service import SERVICE
from catalog.settings import CatalogSettings
from chassis import migrations
from chassis.errors import InvalidCursor
from chassis.pagination import CursorCodec

SECRET = "a test secret that is long enough to pass any check"


def test_cursor_decodes_with_the_catalogs_codec() -> None:
    at = dt.datetime(2025, 3, 1, 12, 30, tzinfo=dt.UTC)
    token = newest_cursor(SECRET, at, 4242)
    codec = CursorCodec(SECRET, "products")
    assert codec.decode(token, "newest", (dt.datetime, int)) == [at, 4242]
    with pytest.raises(InvalidCursor):
        CursorCodec("another secret entirely, also long enough", "products").decode(
            token, "newest", (dt.datetime, int)
        )


def test_deep_page_starts_right_after_the_row(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    assert SERVICE.migrations is not None
    migrations.upgrade(SERVICE.migrations, url)
    seed_catalog(url, 300)
    settings = CatalogSettings(
        data_dir=tmp_path, database_url=url, secret_key=SECRET, log_format="console"
    )
    client = create_app(settings).test_client()
    response = client.get("/products", query_string={"cursor": deep_cursor(url, SECRET, 200)})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["items"][0]["id"] == row_key(url, 201)[1]
