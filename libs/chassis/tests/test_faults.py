"""Fault flags: parsed strictly, shared by every process through one store, off in production."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from chassis import faults
from chassis.cache import Cache, LocalBackend
from chassis.settings import ServiceSettings
from chassis.testing import free_port


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["disk", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[faults.FaultStore]:
    """Each store the platform runs on: a diskcache folder, and a real Redis."""
    made: faults.FaultStore
    if request.param == "disk":
        made = faults.DiskFaultStore(tmp_path / "faults")
    else:
        namespace = "test-faults-" + uuid.uuid4().hex[:8]
        made = faults.RedisFaultStore(request.getfixturevalue("redis_url"), namespace)
    yield made
    made.clear()


@pytest.fixture
def configured(tmp_path: Path) -> Iterator[faults.Faults]:
    """This process's flags on a folder of the test's own, as an app's start would do."""
    yield faults.configure(ServiceSettings(env="test", data_dir=tmp_path))
    faults.configure(ServiceSettings(env="production", secret_key="x" * 40, jwks_url="http://j"))


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("events_paused", "on", 1.0),
        ("events_paused", "OFF", 0.0),
        ("events_paused", True, 1.0),
        ("events_paused", 1.0, 1.0),
        ("payment_failure_ratio", "0.25", 0.25),
        ("payment_failure_ratio", "30%", 0.3),
        ("payment_failure_ratio", 1, 1.0),
        ("catalog_latency_ms", "250", 250),
        ("catalog_latency_ms", 12.6, 13),
    ],
)
def test_values_are_parsed_as_an_operator_types_them(
    name: str, raw: object, expected: float
) -> None:
    assert faults.fault_named(name).parse(raw) == expected


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("events_paused", "maybe"),
        ("events_paused", None),
        ("payment_failure_ratio", [1]),
        ("catalog_latency_ms", "1e400"),
        ("payment_failure_ratio", "1.5"),
        ("payment_failure_ratio", "-0.1"),
        ("payment_failure_ratio", "nan"),
        ("payment_failure_ratio", True),
        ("catalog_latency_ms", "60001"),
        ("catalog_latency_ms", "slow"),
    ],
)
def test_values_that_do_not_fit_are_refused_with_422(name: str, raw: object) -> None:
    with pytest.raises(faults.InvalidFaultValue) as refused:
        faults.fault_named(name).parse(raw)
    assert refused.value.status == 422


def test_an_unknown_name_is_a_404_naming_the_known_ones() -> None:
    with pytest.raises(faults.UnknownFault) as refused:
        faults.fault_named("gremlins")
    assert refused.value.status == 404
    assert "payment_failure_ratio" in str(refused.value.detail)


def test_a_flag_set_in_one_process_reaches_another_within_the_ttl(
    store: faults.FaultStore,
) -> None:
    clock = Clock()
    operator = faults.Faults(store, service="cli")
    service = faults.Faults(store, service="payments", ttl=1.0, clock=clock)
    assert service.value("payment_failure_ratio") == 0

    operator.set("payment_failure_ratio", "0.5")
    assert service.value("payment_failure_ratio") == 0  # read less than a second ago
    clock.now += 1.0
    assert service.value("payment_failure_ratio") == 0.5
    assert operator.all()["payment_failure_ratio"] == 0.5

    operator.set("payment_failure_ratio", "0")
    operator.set("events_paused", "on")
    clock.now += 1.0
    assert service.value("payment_failure_ratio") == 0
    assert service.value("events_paused") == 1
    operator.clear()
    clock.now += 1.0
    assert service.value("events_paused") == 0
    assert set(operator.all().values()) == {0.0}


def test_an_active_flag_is_logged_when_set_when_seen_and_every_half_minute(
    tmp_path: Path,
) -> None:
    clock = Clock()
    store = faults.DiskFaultStore(tmp_path / "faults")
    service = faults.Faults(store, service="catalog", ttl=1.0, clock=clock)
    with capture_logs() as logs:
        faults.Faults(store, service="cli").set("catalog_latency_ms", "200", by="admin:ops")
        for _ in range(40):  # forty seconds of reads
            service.value("catalog_latency_ms")
            clock.now += 1.0
        faults.Faults(store, service="cli").set("catalog_latency_ms", "0")
        service.value("catalog_latency_ms")
    events = [(e["event"], e["log_level"]) for e in logs if e.get("fault") == "catalog_latency_ms"]
    assert events == [
        ("fault set", "warning"),
        ("fault active", "warning"),
        ("fault active", "warning"),  # thirty seconds later
        ("fault cleared", "info"),
        ("fault off", "info"),
    ]
    assert next(e for e in logs if e["event"] == "fault set")["by"] == "admin:ops"


def test_each_flag_has_a_gauge_while_it_is_on(tmp_path: Path) -> None:
    store = faults.DiskFaultStore(tmp_path / "faults")
    service = faults.Faults(store, service="gauge-test", ttl=0)
    faults.Faults(store, service="cli").set("payment_latency_ms", "750")
    service.refresh()

    def gauge(name: str) -> float | None:
        labels = {"service": "gauge-test", "fault": name}
        return REGISTRY.get_sample_value("fault_flag", labels)

    assert gauge("payment_latency_ms") == 750
    assert gauge("events_paused") == 0
    faults.Faults(store, service="cli").clear()
    service.refresh()
    assert gauge("payment_latency_ms") == 0


def test_production_never_reads_nor_sets_a_flag(tmp_path: Path) -> None:
    settings = ServiceSettings(
        env="production", data_dir=tmp_path, secret_key="s" * 40, jwks_url="http://auth/jwks"
    )
    production = faults.Faults(faults.store_from_settings(settings), service="payments")
    assert not production.enabled
    assert production.value("payment_failure_ratio") == 0
    with pytest.raises(faults.FaultsRefused) as refused:
        production.set("payment_failure_ratio", "1")
    assert refused.value.status == 403
    with pytest.raises(faults.FaultsRefused):
        production.all()
    assert not (tmp_path / "faults").exists()


def test_an_unreachable_store_injects_nothing_and_refuses_changes_with_503() -> None:
    store = faults.RedisFaultStore(f"redis://127.0.0.1:{free_port()}/0", "nowhere", timeout=0.1)
    flags = faults.Faults(store, service="catalog")
    assert flags.value("catalog_latency_ms") == 0
    with pytest.raises(faults.FaultStoreUnavailableProblem) as refused:
        flags.set("catalog_latency_ms", "100")
    assert refused.value.status == 503


def test_chance_picks_the_same_keys_every_time_and_about_the_share(
    configured: faults.Faults,
) -> None:
    configured.set("payment_failure_ratio", "0.3")
    picked = [faults.chance("payment_failure_ratio", f"order-{i}") for i in range(2000)]
    again = [faults.chance("payment_failure_ratio", f"order-{i}") for i in range(2000)]
    assert picked == again
    assert 0.25 < sum(picked) / len(picked) < 0.35
    configured.set("payment_failure_ratio", "1")
    configured.refresh()
    assert all(faults.chance("payment_failure_ratio", f"order-{i}") for i in range(50))


def test_sleep_for_waits_the_flag_milliseconds(configured: faults.Faults) -> None:
    configured.set("catalog_latency_ms", "200")
    started = time.perf_counter()
    faults.sleep_for("catalog_latency_ms")
    assert time.perf_counter() - started >= 0.2


def test_wait_while_holds_until_the_switch_is_off_or_stop_is_set(
    configured: faults.Faults,
) -> None:
    configured.set("events_paused", "on")
    stop = threading.Event()
    released = threading.Event()

    def paused_worker() -> None:
        faults.wait_while("events_paused", stop, interval=0.02)
        released.set()

    threading.Thread(target=paused_worker, daemon=True).start()
    assert not released.wait(1.5)  # held across a TTL's re-read
    configured.set("events_paused", "off")
    assert released.wait(3)

    configured.set("events_paused", "on")
    released.clear()
    threading.Thread(target=paused_worker, daemon=True).start()
    stop.set()
    assert released.wait(1)


def test_caches_are_skipped_while_cache_unavailable_is_on(
    configured: faults.Faults, tmp_path: Path
) -> None:
    cache = Cache(LocalBackend(tmp_path / "cache"), owner="catalog", service="fault-test")
    loads: list[int] = []

    def load() -> bytes:
        loads.append(1)
        return b"answer"

    assert cache.fetch("public", "k", load, ttl=60) == (b"answer", "miss")
    assert cache.fetch("public", "k", load, ttl=60) == (b"answer", "hit")
    configured.set("cache_unavailable", "on")
    assert cache.fetch("public", "k", load, ttl=60) == (b"answer", "unavailable")
    assert len(loads) == 2
    configured.set("cache_unavailable", "off")
    cache.breaker.reset_seconds = 0  # no waiting for the breaker's next trial
    deadline = time.monotonic() + 5
    while cache.fetch("public", "k", load, ttl=60)[1] != "hit":
        assert time.monotonic() < deadline, "the cache did not come back"
        time.sleep(0.05)
