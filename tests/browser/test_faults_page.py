"""The admin's Faults page: flags set and cleared in the browser reach the platform's store."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from .conftest import DEMO_ADMIN, Platform, Tab, admin_token
from .test_storefront import expect, log_in

pytestmark = pytest.mark.system


def flag_values(platform: Platform) -> dict[str, float]:
    """Every fault flag's value, as the gateway's API reports it."""
    response = httpx.get(
        platform.gateway + "/api/faults",
        headers={"Authorization": "Bearer " + admin_token(platform)},
    )
    assert response.status_code == 200, response.text
    return {item["name"]: item["value"] for item in response.json()["items"]}


@pytest.fixture
def faults_off_after(shop: Platform) -> Iterator[None]:
    """Whatever the test leaves on is turned off: the platform is shared by the module."""
    yield
    httpx.delete(
        shop.gateway + "/api/faults",
        headers={"Authorization": "Bearer " + admin_token(shop)},
    )


@pytest.mark.usefixtures("faults_off_after")
def test_an_admin_turns_faults_on_and_off_from_the_faults_page(tab: Tab, shop: Any) -> None:
    log_in(tab, *DEMO_ADMIN)
    page = tab.page
    page.get_by_role("link", name="Admin", exact=True).click()
    page.get_by_role("navigation", name="Admin").get_by_role("link", name="Faults").click()
    expect(page.get_by_role("heading", level=1, name="Faults"))
    table = page.get_by_role("table", name="Fault flags")
    expect(table.get_by_text("payment_failure_ratio"))
    assert set(flag_values(shop).values()) == {0}

    form = page.get_by_role("form", name="Set payment_failure_ratio")
    form.get_by_label("Share (%)").fill("25")
    form.get_by_role("button", name="Set payment_failure_ratio").click()
    expect(page.get_by_text("payment_failure_ratio is set."))
    expect(page.locator("tr", has_text="payment_failure_ratio").get_by_text("25%"))
    page.get_by_role("button", name="Turn on cache_unavailable").click()
    expect(page.get_by_role("button", name="Turn off cache_unavailable"))
    values = flag_values(shop)
    assert (values["payment_failure_ratio"], values["cache_unavailable"]) == (0.25, 1)

    form = page.get_by_role("form", name="Set catalog_latency_ms")
    form.get_by_label("Delay (ms)").fill("999999")  # over the bound: the browser refuses it
    form.get_by_role("button", name="Set catalog_latency_ms").click()
    assert flag_values(shop)["catalog_latency_ms"] == 0

    page.get_by_role("button", name="Turn every fault off").click()
    expect(page.get_by_text("Every fault is off."))
    expect(page.get_by_role("button", name="Turn on cache_unavailable"))
    assert set(flag_values(shop).values()) == {0}
