"""A frozen neighbour: calls to it are capped, so it cannot hold every thread of orders."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chassis.testing import frozen_address
from orders.settings import OrdersSettings
from orders.upstreams import DependencyUnavailable, Upstreams


@pytest.fixture
def frozen_url() -> Iterator[str]:
    """A stand-in for a SIGSTOPped catalog: connections are accepted, nothing is answered."""
    with frozen_address() as (host, port):
        yield f"http://{host}:{port}"


def test_calls_to_a_frozen_catalog_past_the_cap_fail_fast_with_retry_after(
    frozen_url: str, tmp_path: Path
) -> None:
    settings = OrdersSettings(
        env="test",
        data_dir=tmp_path,
        catalog_url=frozen_url,
        upstream_timeout_seconds=1.5,
        upstream_max_in_flight=2,
    )
    upstreams = Upstreams(settings)
    timed_out: list[int] = []

    def stuck(product_id: int) -> None:
        with pytest.raises(DependencyUnavailable):
            upstreams.product(product_id)
        timed_out.append(product_id)

    threads = [threading.Thread(target=stuck, args=(n,)) for n in (1, 2)]
    try:
        for thread in threads:
            thread.start()
        time.sleep(0.3)  # both now wait on catalog
        started = time.monotonic()
        with pytest.raises(DependencyUnavailable) as refused:
            upstreams.product(3)
        waited = time.monotonic() - started
    finally:
        for thread in threads:
            thread.join(10)
        upstreams.close()
    assert waited < 0.5, f"the third call waited {waited:.2f} s on the frozen catalog"
    assert refused.value.status == 503
    assert refused.value.headers.get("Retry-After") == "1"
    assert sorted(timed_out) == [1, 2]


@pytest.mark.parametrize("threads", [1, 2, 4, 8, 16])
def test_the_cap_leaves_threads_free_whatever_their_number(threads: int) -> None:
    settings = OrdersSettings(env="test", threads=threads)
    assert settings.upstream_bulkhead >= 1
    if threads > 1:
        assert settings.upstream_bulkhead <= threads // 2


def test_an_explicit_cap_wins_over_the_thread_count() -> None:
    assert OrdersSettings(env="test", threads=4, upstream_max_in_flight=3).upstream_bulkhead == 3
