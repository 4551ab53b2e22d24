"""Keyset pagination with opaque cursors signed by the service's secret."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import ColumnElement, Integer, Row, Select, and_, bindparam, or_, tuple_

from chassis.errors import InvalidCursor

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# Names of the bound parameters a `page_statement` leaves for `fetch_page` to fill.
LIMIT_PARAM = "keyset_limit"
AFTER_PARAM = "keyset_after_{}"


@dataclass(frozen=True)
class SortKey:
    """An ordered list of (column, descending) pairs ending in a unique column."""

    name: str
    columns: tuple[tuple[Any, bool], ...]

    def order_by(self) -> list[ColumnElement[Any]]:
        """ORDER BY clauses for this key."""
        return [column.desc() if desc else column.asc() for column, desc in self.columns]

    def after(self, values: Sequence[Any]) -> ColumnElement[bool]:
        """Rows strictly after the row whose key is `values`."""
        directions = {desc for _, desc in self.columns}
        if len(directions) == 1:
            # Uniform direction: one row-value comparison, which indexes serve directly.
            cols = tuple_(*(column for column, _ in self.columns))
            vals = tuple_(*values)
            return cols < vals if directions.pop() else cols > vals
        clauses = []
        for i, (column, desc) in enumerate(self.columns):
            equal = [c == v for (c, _), v in zip(self.columns[:i], values[:i], strict=True)]
            step = column < values[i] if desc else column > values[i]
            clauses.append(and_(*equal, step))
        return or_(*clauses)

    def after_placeholders(self) -> ColumnElement[bool]:
        """`after()` with a bound parameter per key column, filled in by `fetch_page`."""
        return self.after(
            [
                bindparam(AFTER_PARAM.format(i), type_=column.type)
                for i, (column, _) in enumerate(self.columns)
            ]
        )


class CursorCodec:
    """Encodes a row's sort key into an opaque, tamper-checked token and back."""

    def __init__(self, secret: str, resource: str) -> None:
        self._serializer = URLSafeSerializer(secret, salt=f"bazaar.cursor.{resource}")

    def encode(self, sort: str, values: Sequence[Any]) -> str:
        """An opaque cursor for the row after which the next page starts."""
        return self._serializer.dumps({"s": sort, "k": [_dump(v) for v in values]})

    def decode(self, token: str, sort: str, types: Sequence[type]) -> list[Any]:
        """The key values in a cursor; 400 when forged, malformed or for another sort."""
        try:
            data = self._serializer.loads(token)
        except BadSignature as exc:
            raise InvalidCursor("The cursor is malformed or has been tampered with.") from exc
        if not isinstance(data, dict) or data.get("s") != sort:
            raise InvalidCursor("The cursor belongs to a different sort order.")
        raw = data.get("k")
        if not isinstance(raw, list) or len(raw) != len(types):
            raise InvalidCursor("The cursor is malformed.")
        try:
            return [_load(value, kind) for value, kind in zip(raw, types, strict=True)]
        except (TypeError, ValueError) as exc:
            raise InvalidCursor("The cursor is malformed.") from exc


def _dump(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def _load(value: Any, kind: type) -> Any:
    if kind is dt.datetime:
        if not isinstance(value, str):
            raise TypeError("expected a timestamp")
        parsed = dt.datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise TypeError("expected an integer")
    if kind is str and not isinstance(value, str):
        raise TypeError("expected a string")
    return value


@dataclass(frozen=True)
class Page:
    """One page of rows and the cursor of the next page, if there is one."""

    items: list[Any]
    next_cursor: str | None


def page_statement(stmt: Select[Any], sort: SortKey, *, after_cursor: bool) -> Select[Any]:
    """`stmt` in `sort` order, after a cursor if asked, its limit and key left as parameters."""
    # Built once per shape of query and run by `fetch_page` with new values: SQLAlchemy finds
    # a statement object it has seen in its compiled cache at once, while keying a new one
    # costs more per request (~0.2 ms for a catalog page) than PostgreSQL takes to run it.
    if after_cursor:
        stmt = stmt.where(sort.after_placeholders())
    return stmt.order_by(*sort.order_by()).limit(bindparam(LIMIT_PARAM, type_=Integer))


def fetch_page(
    session: Any,
    stmt: Select[Any],
    *,
    params: dict[str, Any],
    sort: SortKey,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
    key_of: Any,
    types: Sequence[type],
    as_item: Callable[[Row[Any]], Any] | None = None,
) -> Page:
    """One page of a `page_statement`: its ORM entities, or `as_item(row)` for a Core select."""
    values = {**params, LIMIT_PARAM: limit + 1}
    if cursor:
        keys = codec.decode(cursor, sort.name, types)
        values.update((AFTER_PARAM.format(i), key) for i, key in enumerate(keys))
    if as_item is None:
        rows = list(session.scalars(stmt, values))
    else:
        # Through the session's connection: Session.execute would look for ORM work to do.
        rows = [as_item(row) for row in session.connection().execute(stmt, values)]
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = codec.encode(sort.name, key_of(rows[-1])) if has_more and rows else None
    return Page(items=rows, next_cursor=next_cursor)


def keyset_page(
    session: Any,
    stmt: Select[Any],
    *,
    sort: SortKey,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
    key_of: Any,
    types: Sequence[type],
) -> Page:
    """Run `stmt` one page at a time; `key_of(row)` gives a row's sort key values."""
    return fetch_page(
        session,
        page_statement(stmt, sort, after_cursor=bool(cursor)),
        params={},
        sort=sort,
        codec=codec,
        cursor=cursor,
        limit=limit,
        key_of=key_of,
        types=types,
    )
