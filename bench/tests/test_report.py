"""The report's arithmetic and formatting."""

from __future__ import annotations

import math

from bench import report
from bench.report import Row


def row(key: str, rate: float, p50: float = 10.0, p99: float = 20.0, errors: int = 0) -> Row:
    """A measured scenario named after its key."""
    return Row(key, key.replace("_", " "), "off", rate, p50, p99, errors)


def test_percentile_by_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert report.percentile(values, 50) == 50.0
    assert report.percentile(values, 99) == 99.0
    assert report.percentile([3.0], 99) == 3.0
    assert math.isnan(report.percentile([], 50))


def test_table_shows_each_row_against_the_ceiling() -> None:
    rows = [
        row("hello", 4000.0, 12.5, 60.0),
        Row("list", "list", "on", 1000.0, 150.0, 900.0, 3, error_kinds="timeout 3"),
    ]
    text = report.table(rows, ceiling=4000.0)
    lines = text.splitlines()
    assert lines[0].startswith("| scenario | cache | throughput | p50 ms | p99 ms | errors |")
    assert lines[2] == "| hello | off | 4,000 req/s | 12.50 | 60.00 | 0 | 1.00x |"
    assert lines[3] == "| list | on | 1,000 req/s | 150 | 900 | 3 (timeout 3) | 0.25x |"


def test_orders_per_second_are_not_compared_with_the_ceiling() -> None:
    checkout = Row("checkout", "checkout", "on", 104.26, 120.0, 480.0, 0, unit="orders/s")
    assert (
        report.table([checkout], ceiling=4000.0)
        .splitlines()[2]
        .endswith("| 104.3 orders/s | 120 | 480 | 0 |  |")
    )


def test_throughput_ratio_met_and_missed() -> None:
    met = report.throughput_ratio("g", row("a", 900.0), row("b", 1000.0), 0.8)
    assert (met.measured, met.met) == ("900 vs 1,000 req/s = 0.90x", True)
    assert report.throughput_ratio("g", row("a", 700.0), row("b", 1000.0), 0.8).met is False


def test_latency_targets() -> None:
    deep, first = row("deep", 100.0, p50=11.0), row("first", 100.0, p50=10.0)
    assert report.latency_ratio("g", deep, first, 1.2).met is True
    assert report.latency_ratio("g", row("d", 1.0, p50=13.0), first, 1.2).met is False
    overhead = report.latency_difference("g", row("gw", 1.0, p50=2.3), row("d", 1.0, p50=1.9), 0.5)
    assert overhead.measured == "p50 2.30 - 1.90 ms = +0.40 ms"
    assert overhead.met is True
    assert report.p99_bound("g", row("x", 1.0, p99=26.0), 25.0).met is False


def test_a_scenario_that_did_not_run_is_not_judged() -> None:
    target = report.throughput_ratio("g", None, row("b", 1.0), 1.0)
    assert (target.measured, target.met) == ("scenario not run", None)
    assert "not measured" in report.targets_table([target])


def test_no_errors_names_the_failing_scenarios() -> None:
    target = report.no_errors("g", [row("a", 1.0), row("b_c", 1.0, errors=1200)])
    assert (target.measured, target.met) == ("b c (off): 1,200", False)
    assert report.no_errors("g", [row("a", 1.0)]).met is True


def test_targets_table_marks_misses() -> None:
    text = report.targets_table(
        [report.Target("fast", "1 ms", True), report.Target("small", "900 MiB", False)]
    )
    assert "| fast | 1 ms | met |" in text
    assert "| small | 900 MiB | **missed** |" in text
