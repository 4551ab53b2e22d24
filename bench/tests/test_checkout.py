"""Turning a checkout run and the orders' history into figures."""

from __future__ import annotations

from collections import Counter

import pytest

from bench.checkout import LoadRun, Placed, summarize


def test_summarize_measures_from_request_to_confirmation() -> None:
    run = LoadRun(started=1000.0, ended=1010.0, failures=Counter({"checkout 503": 1}))
    run.placed = [Placed(f"ord_{i}", 1000.0 + i, 1000.05 + i) for i in range(10)]
    confirmed = {f"ord_{i}": 1000.0 + i + 0.1 * (i + 1) for i in range(9)}  # ord_9 never
    result = summarize(run, confirmed, {"ord_9": "CANCELLED"})
    assert (result.placed, result.confirmed) == (10, 9)
    assert result.errors == 2
    assert result.failures == {"checkout 503": 1, "order CANCELLED": 1}
    assert result.p50_ms == pytest.approx(500.0)
    assert result.p99_ms == pytest.approx(900.0)
    assert result.answer_p50_ms == pytest.approx(50.0)
    # The run ended at 1010 after the last confirmation (1008.9): 9 orders over 10 s.
    assert result.orders_per_second == pytest.approx(0.9)


def test_a_backlog_worked_off_after_the_run_lowers_the_rate() -> None:
    run = LoadRun(started=0.0, ended=10.0)
    run.placed = [Placed("ord_1", 9.0, 9.1)]
    result = summarize(run, {"ord_1": 20.0}, {})
    assert result.seconds == pytest.approx(20.0)
    assert result.orders_per_second == pytest.approx(0.05)
