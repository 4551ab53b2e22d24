"""Spans kept on disk when no collector is configured: one SQLite file under `data_dir`.

Every process of a platform on embedded defaults writes the same file (WAL: many writers
queue briefly on its lock, readers never wait), so `bazaar trace` sees a whole trace. The
file is bounded: spans older than the age limit go, and past the size limit the oldest
quarter goes, the freed pages given back to the filesystem.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.resources import SERVICE_NAME
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode

if TYPE_CHECKING:
    from chassis.settings import ServiceSettings

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spans (
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    parent_id TEXT,
    service TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    error INTEGER NOT NULL,
    status_message TEXT,
    attributes TEXT NOT NULL,
    events TEXT NOT NULL,
    links TEXT NOT NULL,
    order_id TEXT,
    request_id TEXT
);
CREATE INDEX IF NOT EXISTS spans_trace ON spans (trace_id);
CREATE INDEX IF NOT EXISTS spans_start ON spans (start_ns);
CREATE INDEX IF NOT EXISTS spans_order ON spans (order_id) WHERE order_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS spans_request ON spans (request_id) WHERE request_id IS NOT NULL;
"""
# Age and size are checked at most this often per process: a check is a few queries.
PRUNE_INTERVAL = 30.0


@dataclass(frozen=True)
class StoredSpan:
    """One span as read back from the store."""

    trace_id: str
    span_id: str
    parent_id: str | None
    service: str
    name: str
    kind: str
    start_ns: int
    end_ns: int
    error: bool
    status_message: str | None
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, str]] = field(default_factory=list)

    @property
    def duration_ms(self) -> float:
        """How long the span lasted."""
        return (self.end_ns - self.start_ns) / 1e6


@dataclass(frozen=True)
class TraceSummary:
    """One trace in a listing: where it started, how long it took, whether anything failed."""

    trace_id: str
    service: str
    name: str
    start_ns: int
    duration_ms: float
    spans: int
    errors: int


FILE_NAME = "traces.db"


class SpanStore:
    """The span file: appended by exporters, read by the CLI."""

    def __init__(self, path: Path, *, max_bytes: int, max_age_seconds: float) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.max_age_seconds = max_age_seconds
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._next_prune = 0.0

    @classmethod
    def of(cls, settings: ServiceSettings) -> SpanStore:
        """The span file of the platform these settings describe, with their bounds."""
        return cls(
            settings.data_dir / FILE_NAME,
            max_bytes=settings.otel_store_max_mb * 1024 * 1024,
            max_age_seconds=settings.otel_store_max_age_hours * 3600,
        )

    def _connection(self) -> sqlite3.Connection:
        # A connection is not shared across a fork: the child opens its own.
        if self._conn is None or self._pid != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=10.0, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 10000")
            # Before the first table: auto_vacuum applies to a new file only.
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.executescript(_SCHEMA)
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def add(self, spans: Sequence[ReadableSpan]) -> None:
        """Append finished spans; prune when a check is due."""
        rows = [_row(span) for span in spans if span.context is not None]
        with self._lock:
            conn = self._connection()
            with conn:
                conn.executemany(
                    "INSERT INTO spans VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
                )
            if time.monotonic() >= self._next_prune:
                self._next_prune = time.monotonic() + PRUNE_INTERVAL
                self._prune(conn)

    def prune(self) -> None:
        """Drop what is over the age or size limit now."""
        with self._lock:
            self._prune(self._connection())

    def _prune(self, conn: sqlite3.Connection) -> None:
        cutoff = time.time_ns() - int(self.max_age_seconds * 1e9)
        with conn:
            conn.execute("DELETE FROM spans WHERE start_ns < ?", (cutoff,))
        while self._used_bytes(conn) > self.max_bytes:
            count = conn.execute("SELECT count(*) FROM spans").fetchone()[0]
            if not count:
                break
            with conn:
                conn.execute(
                    "DELETE FROM spans WHERE rowid IN "
                    "(SELECT rowid FROM spans ORDER BY start_ns LIMIT ?)",
                    (max(1, count // 4),),
                )
            conn.execute("PRAGMA incremental_vacuum")

    @staticmethod
    def _used_bytes(conn: sqlite3.Connection) -> int:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        return int((pages - free) * size)

    def size_bytes(self) -> int:
        """Bytes the file's live pages take."""
        with self._lock:
            return self._used_bytes(self._connection())

    # -- reading ------------------------------------------------------------------------------

    def find(self, ident: str) -> list[StoredSpan]:
        """The spans of the trace `ident` names: a trace id, an order id or a request id."""
        ident = ident.strip()
        with self._lock:
            conn = self._connection()
            # Request ids are 32 hex digits too: an order or request id is looked up first.
            found = conn.execute(
                "SELECT trace_id FROM spans WHERE order_id = ? OR request_id = ? "
                "ORDER BY start_ns LIMIT 1",
                (ident, ident),
            ).fetchone()
            if found is not None:
                trace_id = found[0]
            elif _is_trace_id(ident):
                trace_id = ident.lower()
            else:
                return []
            rows = conn.execute(
                "SELECT * FROM spans WHERE trace_id = ? ORDER BY start_ns, end_ns DESC",
                (trace_id,),
            ).fetchall()
        return [_stored(row) for row in rows]

    def summaries(
        self, *, limit: int = 10, since_seconds: float = 3600.0, slowest: bool = True
    ) -> list[TraceSummary]:
        """Traces that started within `since_seconds`: slowest first, or latest first."""
        since = time.time_ns() - int(since_seconds * 1e9)
        order = "max(end_ns) - min(start_ns)" if slowest else "min(start_ns)"
        with self._lock:
            rows = (
                self._connection()
                .execute(
                    f"""
                    SELECT trace_id, min(start_ns), max(end_ns), count(*), sum(error)
                    FROM spans WHERE start_ns >= ? GROUP BY trace_id
                    ORDER BY {order} DESC LIMIT ?
                    """,  # noqa: S608 - one of two fixed expressions
                    (since, limit),
                )
                .fetchall()
            )
            summaries = []
            for trace_id, start, end, count, errors in rows:
                root = (
                    self._connection()
                    .execute(
                        "SELECT service, name FROM spans WHERE trace_id = ? "
                        "ORDER BY start_ns LIMIT 1",
                        (trace_id,),
                    )
                    .fetchone()
                )
                summaries.append(
                    TraceSummary(
                        trace_id, root[0], root[1], start, (end - start) / 1e6, count, errors
                    )
                )
        return summaries

    def close(self) -> None:
        """Close this process's connection."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None


class SpanStoreExporter(SpanExporter):
    """An exporter into the span store (behind the SDK's batch processor)."""

    def __init__(self, store: SpanStore) -> None:
        self.store = store

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Write a batch; a busy or broken file loses the batch, never the request."""
        try:
            self.store.add(spans)
        except sqlite3.Error:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Close the file."""
        self.store.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing is buffered here."""
        return True


def _is_trace_id(text: str) -> bool:
    return len(text) == 32 and all(c in "0123456789abcdefABCDEF" for c in text)


def _row(span: ReadableSpan) -> tuple[Any, ...]:
    context = span.context
    assert context is not None  # noqa: S101 - filtered by the caller
    attributes = dict(span.attributes or {})
    service = str(span.resource.attributes.get(SERVICE_NAME, "unknown"))
    parent = f"{span.parent.span_id:016x}" if span.parent is not None else None
    events = [
        {"name": e.name, "time_ns": e.timestamp, "attributes": dict(e.attributes or {})}
        for e in span.events
    ]
    links = [
        {"trace_id": f"{link.context.trace_id:032x}", "span_id": f"{link.context.span_id:016x}"}
        for link in span.links
    ]
    return (
        f"{context.trace_id:032x}",
        f"{context.span_id:016x}",
        parent,
        service,
        span.name,
        span.kind.name,
        span.start_time or 0,
        span.end_time or span.start_time or 0,
        int(span.status.status_code is StatusCode.ERROR),
        span.status.description,
        json.dumps(attributes, default=str),
        json.dumps(events, default=str),
        json.dumps(links),
        _text(attributes.get("bazaar.order_id")),
        _text(attributes.get("bazaar.request_id")),
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _stored(row: tuple[Any, ...]) -> StoredSpan:
    return StoredSpan(
        trace_id=row[0],
        span_id=row[1],
        parent_id=row[2],
        service=row[3],
        name=row[4],
        kind=row[5],
        start_ns=row[6],
        end_ns=row[7],
        error=bool(row[8]),
        status_message=row[9],
        attributes=json.loads(row[10]),
        events=json.loads(row[11]),
        links=json.loads(row[12]),
    )
