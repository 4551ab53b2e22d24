"""`bazaar trace` and `bazaar traces`: read the span file written on embedded defaults."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
from collections.abc import Iterable

import click

from chassis.settings import ServiceSettings
from chassis.spanstore import FILE_NAME, SpanStore, StoredSpan, TraceSummary


def open_store(settings: ServiceSettings | None = None) -> SpanStore:
    """The span file of the platform these settings describe (`data_dir`/traces.db)."""
    settings = settings or ServiceSettings()
    path = settings.data_dir / FILE_NAME
    if not path.exists():
        raise click.ClickException(
            f"no spans at {path}: traces are kept there only on embedded defaults with "
            "BAZAAR_OTEL_ENABLED left on"
            + (
                " (OTEL_EXPORTER_OTLP_ENDPOINT is set: look in your collector)"
                if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
                else ""
            )
        )
    return SpanStore.of(settings)


def tree_order(spans: list[StoredSpan]) -> list[tuple[int, StoredSpan]]:
    """Spans depth-first, children by start time under their parent; with their depth.

    A span whose parent is not in the file (a caller outside the platform, or pruned) is a
    root of its own.
    """
    ids = {span.span_id for span in spans}
    children: dict[str | None, list[StoredSpan]] = {}
    for span in spans:
        parent = span.parent_id if span.parent_id in ids else None
        children.setdefault(parent, []).append(span)
    for siblings in children.values():
        siblings.sort(key=lambda s: (s.start_ns, -s.end_ns))
    ordered: list[tuple[int, StoredSpan]] = []

    def visit(parent: str | None, depth: int) -> None:
        for child in children.get(parent, []):
            ordered.append((depth, child))
            visit(child.span_id, depth + 1)

    visit(None, 0)
    return ordered


def waterfall(spans: list[StoredSpan], *, width: int = 100, color: bool = False) -> list[str]:
    """A trace as terminal lines: offset, duration, service, operation, status, and a bar."""
    if not spans:
        return []
    start = min(s.start_ns for s in spans)
    end = max(s.end_ns for s in spans)
    total = max(end - start, 1)
    lines = [
        f"trace {spans[0].trace_id}  {len(spans)} spans  {total / 1e6:.1f} ms  "
        f"started {_clock(start)}",
        f"{'offset ms':>10} {'duration':>9}  {'service':<16} {'operation':<44} status",
    ]
    bar_width = max(10, width - 100)
    for depth, span in tree_order(spans):
        offset = (span.start_ns - start) / 1e6
        label = ("  " * depth + span.name)[:44]
        status = "ERROR" if span.error else "ok"
        left = int((span.start_ns - start) / total * bar_width)
        length = max(1, int((span.end_ns - span.start_ns) / total * bar_width))
        bar = " " * left + "█" * min(length, bar_width - left)
        line = (
            f"{offset:>10.1f} {span.duration_ms:>7.1f}ms  {span.service[:16]:<16} "
            f"{label:<44} {status:<6} {bar}"
        )
        if span.error:
            reason = span.status_message or ""
            if reason:
                line += f"\n{'':>22}{'':16} {'  ' * depth}↳ {reason}"
            if color:
                line = click.style(line, fg="red", bold=True)
        lines.append(line)
    return lines


def slow_lines(summaries: Iterable[TraceSummary]) -> list[str]:
    """The `bazaar traces --slow` listing."""
    lines = [f"{'duration':>10}  {'spans':>5}  {'errors':>6}  {'started':<12} trace id / root"]
    for s in summaries:
        lines.append(
            f"{s.duration_ms:>8.1f}ms  {s.spans:>5}  {s.errors:>6}  {_clock(s.start_ns):<12} "
            f"{s.trace_id}  {s.service} {s.name}"
        )
    return lines


def _clock(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9).strftime("%H:%M:%S.%f")[:-3]


@click.command("trace")
@click.argument("ident")
def trace_command(ident: str) -> None:
    """Print one trace as a waterfall: by trace id, order id or request id."""
    store = open_store()
    try:
        spans = store.find(ident)
    finally:
        store.close()
    if not spans:
        raise click.ClickException(f"no trace found for {ident}")
    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    width = shutil.get_terminal_size((160, 40)).columns
    for line in waterfall(spans, width=width, color=color):
        click.echo(line)


@click.command("traces")
@click.option("--slow", is_flag=True, help="The slowest first, instead of the latest.")
@click.option("--limit", default=10, show_default=True, help="How many traces.")
@click.option("--since", default=60.0, show_default=True, help="Minutes back to look.")
def traces_command(slow: bool, limit: int, since: float) -> None:
    """List recent traces (the latest, or with --slow the slowest) with spans and errors."""
    store = open_store()
    try:
        summaries = store.summaries(limit=limit, since_seconds=since * 60, slowest=slow)
    finally:
        store.close()
    for line in slow_lines(summaries):
        click.echo(line)
