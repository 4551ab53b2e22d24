"""The catalog_latency_ms fault: every API request waits, probes and scrapes do not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chassis import faults
from chassis.settings import ServiceSettings


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every time.sleep call during the test, recorded instead of slept."""
    calls: list[float] = []
    monkeypatch.setattr("time.sleep", calls.append)
    return calls


@pytest.fixture
def settings(settings: Any, tmp_path: Path) -> Iterator[Any]:
    """The catalog's test settings, its fault flags in a folder of the test's own."""
    yield settings.model_copy(update={"data_dir": tmp_path})
    faults.configure(ServiceSettings(env="production", secret_key="x" * 40, jwks_url="http://j"))


def test_catalog_latency_delays_api_requests_only(
    client: Any, slept: list[float], tmp_path: Path
) -> None:
    assert client.get("/products").status_code == 200
    assert slept == []

    operator = faults.Faults(faults.DiskFaultStore(tmp_path / "faults"), service="cli")
    operator.set("catalog_latency_ms", "400")
    faults.current().refresh()
    assert client.get("/products").status_code == 200
    assert client.get("/categories").status_code == 200
    assert slept == [0.4, 0.4]
    for operational in ("/livez", "/readyz", "/metrics"):
        assert client.get(operational).status_code == 200
    assert slept == [0.4, 0.4]

    operator.set("catalog_latency_ms", "0")
    faults.current().refresh()
    client.get("/products")
    assert slept == [0.4, 0.4]
