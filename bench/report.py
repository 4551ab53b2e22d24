"""The report: one table of every scenario, then each target with the figures it compares."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One measured scenario, whatever measured it."""

    key: str
    name: str
    cache: str  # "off", "on" or "-" (no cache involved)
    rate: float  # per second
    p50_ms: float
    p99_ms: float
    errors: int
    unit: str = "req/s"
    note: str = ""
    error_kinds: str = ""  # e.g. "timeout 7, non-2xx 5"


@dataclass(frozen=True)
class Target:
    """A goal, what was measured against it, and whether it was met (None: not measured)."""

    goal: str
    measured: str
    met: bool | None


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile by nearest rank; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def number(value: float, digits: int = 0) -> str:
    """A figure for the table: thousands separated, "n/a" when missing."""
    if math.isnan(value):
        return "n/a"
    return f"{value:,.{digits}f}"


def ms(value: float) -> str:
    """Milliseconds with a precision that suits their size."""
    if math.isnan(value):
        return "n/a"
    return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"


def table(rows: Iterable[Row], ceiling: float | None) -> str:
    """Every scenario as a markdown table, throughput also as a multiple of the ceiling."""
    lines = [
        "| scenario | cache | throughput | p50 ms | p99 ms | errors | vs ceiling |",
        "| --- | :---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        versus = (
            f"{row.rate / ceiling:.2f}x"
            if ceiling and row.unit == "req/s" and not math.isnan(row.rate)
            else ""
        )
        name = (f"{row.name} ({row.note})" if row.note else row.name).replace("|", "/")
        lines.append(
            f"| {name} | {row.cache} | {number(row.rate, 0 if row.unit == 'req/s' else 1)} "
            f"{row.unit} | {ms(row.p50_ms)} | {ms(row.p99_ms)} "
            f"| {row.errors:,}{f' ({row.error_kinds})' if row.error_kinds else ''} | {versus} |"
        )
    return "\n".join(lines)


def targets_table(targets: Iterable[Target]) -> str:
    """The targets as a markdown table."""
    mark = {True: "met", False: "**missed**", None: "not measured"}
    lines = ["| target | measured in this run | |", "| --- | --- | --- |"]
    lines += [f"| {t.goal} | {t.measured} | {mark[t.met]} |" for t in targets]
    return "\n".join(lines)


NOT_RUN = "scenario not run"


def throughput_ratio(goal: str, row: Row | None, reference: Row | None, minimum: float) -> Target:
    """`row` must serve at least `minimum` times the requests per second of `reference`."""
    if row is None or reference is None:
        return Target(goal, NOT_RUN, None)
    ratio = row.rate / reference.rate if reference.rate else math.nan
    return Target(
        goal,
        f"{number(row.rate)} vs {number(reference.rate)} req/s = {ratio:.2f}x",
        ratio >= minimum,
    )


def latency_ratio(goal: str, row: Row | None, reference: Row | None, maximum: float) -> Target:
    """`row`'s p50 must be at most `maximum` times `reference`'s."""
    if row is None or reference is None:
        return Target(goal, NOT_RUN, None)
    ratio = row.p50_ms / reference.p50_ms if reference.p50_ms else math.nan
    return Target(
        goal,
        f"p50 {ms(row.p50_ms)} vs {ms(reference.p50_ms)} ms = {ratio:.2f}x",
        ratio <= maximum,
    )


def latency_difference(
    goal: str, row: Row | None, reference: Row | None, maximum_ms: float
) -> Target:
    """`row`'s p50 may exceed `reference`'s by at most `maximum_ms`."""
    if row is None or reference is None:
        return Target(goal, NOT_RUN, None)
    difference = row.p50_ms - reference.p50_ms
    return Target(
        goal,
        f"p50 {ms(row.p50_ms)} - {ms(reference.p50_ms)} ms = {difference:+.2f} ms",
        difference <= maximum_ms,
    )


def p99_bound(goal: str, row: Row | None, maximum_ms: float) -> Target:
    """`row`'s p99 must be at most `maximum_ms`."""
    if row is None:
        return Target(goal, NOT_RUN, None)
    return Target(goal, f"p99 {ms(row.p99_ms)} ms", row.p99_ms <= maximum_ms)


def no_errors(goal: str, rows: Sequence[Row]) -> Target:
    """Every scenario must finish without a single error."""
    failing = [f"{row.name} ({row.cache}): {row.errors:,}" for row in rows if row.errors]
    return Target(goal, "; ".join(failing) or f"0 in {len(rows)} scenarios", not failing)


def checkout_target(goal: str, row: Row | None, minimum_rate: float, maximum_p99: float) -> Target:
    """Orders confirmed per second, and p99 from request to confirmation."""
    if row is None:
        return Target(goal, NOT_RUN, None)
    return Target(
        goal,
        f"{number(row.rate, 1)} orders/s, p99 {ms(row.p99_ms)} ms",
        row.rate >= minimum_rate and row.p99_ms <= maximum_p99,
    )


def upper_bound(goal: str, value: float | None, limit: float, measured: str) -> Target:
    """A single figure that must stay at or under `limit`; `measured` says what was seen."""
    if value is None:
        return Target(goal, "not measured", None)
    return Target(goal, measured, value <= limit)
